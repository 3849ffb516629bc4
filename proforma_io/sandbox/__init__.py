"""A ProForma-compatible HTTP server: the Export API over generated or replayed data.

```python
sandbox = Sandbox(SandboxData.generated(seed=42), context_path="/jira")
with sandbox.running():
    client = ProformaClient(sandbox.base_url, ...)
```

Users: `admin`/`admin` and the token `sandbox-admin-token` may export; `agent`/`agent` may
browse and edit but not export.
"""

from proforma_io.sandbox.app import SandboxStats
from proforma_io.sandbox.auth import ADMIN_TOKEN, DEFAULT_USERS, SandboxUser
from proforma_io.sandbox.server import Sandbox, serve
from proforma_io.sandbox.store import Form, Issue, Project, SandboxData, Template

__all__ = [
    "ADMIN_TOKEN",
    "DEFAULT_USERS",
    "Form",
    "Issue",
    "Project",
    "Sandbox",
    "SandboxData",
    "SandboxStats",
    "SandboxUser",
    "Template",
    "serve",
]
