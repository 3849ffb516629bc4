"""A ProForma-compatible HTTP server: the Customer API over generated or replayed data.

The Export API and the form operations on issues (add, copy, submit, reopen, unlock, PDF,
visibility), with the form life cycle and the permissions of each operation.

```python
sandbox = Sandbox(SandboxData.generated(seed=42), context_path="/jira")
with sandbox.running():
    client = ProformaClient(sandbox.base_url, ...)
```

Users (`DEFAULT_USERS`, password = name): `admin` may do everything (also as the token
`sandbox-admin-token`); `lead` may browse, edit and administer projects but not export; `agent`
may browse and edit; `viewer` may only browse; `exporter` may only export.

Faults (`Fault`, see `faults`) make it misbehave on purpose: errors, slow answers, broken
downloads, exports that fail, stall or vanish.
"""

from proforma_io.sandbox.app import SandboxStats
from proforma_io.sandbox.auth import ADMIN_TOKEN, DEFAULT_USERS, SandboxUser
from proforma_io.sandbox.faults import Fault, FaultPlan, parse_fault
from proforma_io.sandbox.server import Sandbox, serve
from proforma_io.sandbox.store import Form, Issue, Project, SandboxData, Template

__all__ = [
    "ADMIN_TOKEN",
    "DEFAULT_USERS",
    "Fault",
    "FaultPlan",
    "Form",
    "Issue",
    "Project",
    "Sandbox",
    "SandboxData",
    "SandboxStats",
    "SandboxUser",
    "Template",
    "parse_fault",
    "serve",
]
