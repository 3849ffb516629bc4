"""Deterministic, realistic sandbox data: projects HR, ITSD and OPS with their forms.

Everything derives from the seed, timestamps included, so one seed always gives the same data.
The first issues of every project use the older design of their template, and the first three
HR forms are submitted, locked and open, so every data set shows these cases however small.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from proforma_io.sandbox import designs
from proforma_io.sandbox.people import Person, cloud_account_id, random_person, staff
from proforma_io.sandbox.store import FormStatus, Issue, Project, SandboxData, Template

FIRST_ISSUE_NUMBER = 101
FIRST_ISSUE_ID = 10101
OLDER_DESIGN_SHARE = 0.25
LEGACY_SHARE = 0.35
OLDER_CHANGE_REQUESTS = 2
SECOND_FORM_SHARE = 0.1
TIMELINE = timedelta(days=300)
V2_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
LEGACY_START = datetime(2019, 3, 4, 9, 0, tzinfo=UTC)

PROJECTS = [
    Project("HR", "Human Resources", "business"),
    Project("ITSD", "IT Service Desk", "service_desk"),
    Project("OPS", "Operations", "software"),
]
PRIORITIES = ["Highest", "High", "Medium", "Medium", "Low"]
STORY_POINTS: list[float | int | None] = [None, None, 1, 2, 2.5, 3, 5, 8]
FIRST_HR_STATUSES: list[FormStatus] = ["s", "l", "o"]
STATUSES: list[FormStatus] = ["o", "s", "l"]
LEGACY_STATUSES: list[FormStatus] = ["o", "s", "s"]
SECOND_FORM_STATUSES: list[FormStatus] = ["o", "s"]
JIRA_STATUS = {
    "HR": {"o": "To Do", "s": "Done", "l": "Done"},
    "ITSD": {"o": "Waiting for support", "s": "Resolved", "l": "Closed"},
    "OPS": {"o": "In Review", "s": "Approved", "l": "Closed"},
}
EQUIPMENT_OTHER = ["Standing desk", "Ergonomic chair", "Docking station", "Split keyboard"]
IT_NOTES = [
    "Needs VPN token.\nPrefers Linux.",
    "Left-handed mouse, please.",
    "Shares a desk with the evening shift.",
    "Contract ends 2027-04-30",
    "",
]
ACCESSIBILITY = ["Screen reader (NVDA)", "Captions in meetings", "Height-adjustable desk"]
PROBLEMS = [
    ("Printer on floor 3 ", "jams", "since Monday."),
    ("VPN drops ", "every hour", "Happens on home Wi-Fi only."),
    ("Laptop will not ", "boot", "Fan spins, screen stays black."),
    ("Cannot open the ", "shared mailbox", "Error says the profile is corrupt."),
    ("Meeting room Oslo display ", "flickers", "Both HDMI ports."),
    ("Password reset link ", "expired", "Tried twice today."),
]
SYSTEMS = ["Billing", "VPN", "Data warehouse", "Payroll", "GitLab", "Salesforce"]
REASONS = ["Quarter-end close work", "Remote work", "New reporting duties", "On-call rota"]
CHANGES = [
    "Upgrade the billing database",
    "Rotate VPN certificates",
    "Move the data warehouse to new storage",
    "Patch payroll servers",
    "Renew the load balancer TLS certificate",
]
OTHER_SYSTEMS = ["Kafka cluster", "Office printers", "Badge readers"]
TIMES = ["08:30", "08:45", "09:00", "09:30", "10:00", "13:00", "14:30"]


def generate(seed: int = 42, issues_per_project: int = 40) -> SandboxData:
    """Build the default data set: `issues_per_project` issues in each of HR, ITSD and OPS."""
    if issues_per_project < 0:
        raise ValueError(f"issues_per_project must be 0 or more, got {issues_per_project}")

    data = SandboxData()
    for project in PROJECTS:
        data.add_project(project)
    _add_templates(data)

    generator = _Generator(random.Random(seed), issues_per_project)
    generator.hr(data)
    generator.itsd(data)
    generator.ops(data)
    return data


def _add_templates(data: SandboxData) -> None:
    """The four templates; HR onboarding and OPS change requests move their issue on submit."""
    hr = designs.hr_onboarding()
    itsd = designs.incident_intake()
    legacy = {"questions": designs.access_request_v1()}
    change = designs.change_request()
    data.add_template(
        Template(
            "HR",
            designs.HR_ONBOARDING,
            "New starter onboarding",
            "v2",
            hr,
            submit_transition=JIRA_STATUS["HR"]["s"],
        )
    )
    data.add_template(Template("ITSD", designs.INCIDENT_INTAKE, "Incident intake", "v2", itsd))
    data.add_template(
        Template("OPS", designs.ACCESS_REQUEST, "Access request (legacy)", "v1", legacy)
    )
    data.add_template(
        Template(
            "OPS",
            designs.CHANGE_REQUEST,
            "Change request",
            "v2",
            change,
            submit_transition=JIRA_STATUS["OPS"]["s"],
        )
    )


def _iso(moment: datetime, fraction: bool = True) -> str:
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ"
    return moment.astimezone(UTC).strftime(pattern)


def _v2_form(
    design: dict[str, Any], visibility: str, status: str, answers: dict[str, Any], updated: str
) -> dict[str, Any]:
    state = {"visibility": visibility, "status": status, "answers": answers}
    return {"id": 0, "updated": updated, "design": design, "state": state}


class _Generator:
    """Draws issues and answers from one random stream, project after project."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.rng = rng
        self.count = count
        self.older = max(1, round(count * OLDER_DESIGN_SHARE)) if count else 0
        self.next_issue_id = FIRST_ISSUE_ID
        self.staff = staff(rng, 30)
        self.hr_designs = (designs.hr_onboarding(False), designs.hr_onboarding())
        self.itsd_designs = (designs.incident_intake(False), designs.incident_intake())
        self.change_designs = (designs.change_request(False), designs.change_request())
        self.legacy_questions = designs.access_request_v1()
        self.legacy_hash = designs.legacy_form_hash(self.legacy_questions)

    def hr(self, data: SandboxData) -> None:
        for index in range(self.count):
            person = random_person(self.rng, f"JIRAUSER{20000 + index}")
            status = FIRST_HR_STATUSES[index] if index < 3 else self._status()
            issue = self._issue(data, "HR", index, status, f"Onboard {person.name}")
            moment = self._moment(V2_START, index)
            design = self.hr_designs[index >= self.older]
            answers = self._hr_answers(person, status, moment.date(), index >= self.older)
            form = _v2_form(design, "i", status, answers, _iso(moment))
            issue.add_form(designs.HR_ONBOARDING, form)
            if index == 1 or self.rng.random() < SECOND_FORM_SHARE:
                self._second_hr_form(issue, person, moment, design, index >= self.older)

    def itsd(self, data: SandboxData) -> None:
        for index in range(self.count):
            status = self._status()
            first, marked, rest = self.rng.choice(PROBLEMS)
            issue = self._issue(data, "ITSD", index, status, f"{first}{marked}")
            issue.fields["customfield_10012"] = None
            design = self.itsd_designs[index >= self.older]
            answers = self._itsd_answers(status, (first, marked, rest), index >= self.older)
            visibility = "e" if self.rng.random() < 0.8 else "i"
            updated = _iso(self._moment(V2_START, index), fraction=False)
            form = _v2_form(design, visibility, status, answers, updated)
            issue.add_form(designs.INCIDENT_INTAKE, form)

    def ops(self, data: SandboxData) -> None:
        legacy_share = max(1, round(self.count * LEGACY_SHARE)) if self.count else 0
        for index in range(self.count):
            legacy = index < legacy_share
            status = self.rng.choice(LEGACY_STATUSES) if legacy else self._status()
            title = self.rng.choice(CHANGES)
            summary = f"Access to {self.rng.choice(SYSTEMS).lower()}" if legacy else title
            issue = self._issue(data, "OPS", index, status, summary)
            if legacy:
                issue.add_form(designs.ACCESS_REQUEST, self._legacy_form(status, index))
                if self.rng.random() < 0.85:
                    continue
            later = index >= legacy_share + OLDER_CHANGE_REQUESTS
            self._change_request(issue, title, index, later)
            if self.rng.random() < SECOND_FORM_SHARE:
                issue.skip_form_id()
                self._change_request(issue, title, index, later=True)

    def _status(self) -> FormStatus:
        return self.rng.choices(STATUSES, weights=[25, 50, 25])[0]

    def _moment(self, start: datetime, index: int) -> datetime:
        step = TIMELINE / max(self.count, 1)
        jitter = timedelta(
            seconds=self.rng.randint(0, 3 * 86400), microseconds=self.rng.randint(0, 999999)
        )
        return start + step * index + jitter

    def _issue(
        self, data: SandboxData, project: str, index: int, status: str, summary: str
    ) -> Issue:
        fields = {
            "summary": summary,
            "priority": {"name": self.rng.choice(PRIORITIES)},
            "customfield_10012": self.rng.choice(STORY_POINTS),
            "status": {"name": JIRA_STATUS[project][status]},
        }
        issue = Issue(f"{project}-{FIRST_ISSUE_NUMBER + index}", str(self.next_issue_id), fields)
        self.next_issue_id += 1
        data.add_issue(issue)
        return issue

    def _answered(self, status: str) -> bool:
        return self.rng.random() < (0.4 if status == "o" else 0.88)

    def _users(self, low: int, high: int) -> list[dict[str, str]]:
        chosen = self.rng.sample(self.staff, self.rng.randint(low, high))
        return [{"id": person.user_id, "name": person.name} for person in chosen]

    def _picks(self, ids: list[str], other: list[str] | None = None) -> dict[str, Any]:
        """A multiple-choice answer: sometimes empty, sometimes with the Other choice."""
        if self.rng.random() < 0.07:
            return {"choices": []}
        picked = sorted(self.rng.sample(ids, self.rng.randint(1, len(ids))), key=int)
        if other and self.rng.random() < 0.2:
            return {"choices": [*picked, "0"], "text": self.rng.choice(other)}
        return {"choices": picked}

    def _hr_answers(self, person: Person, status: str, day: date, later: bool) -> dict[str, Any]:
        rng = self.rng
        start = day + timedelta(days=rng.randint(7, 40))
        local = person.email.split("@")[0].replace(".", "")
        desk = rng.choices([str(rng.randint(1, 450)), "-3", "1000000"], weights=[96, 2, 2])[0]
        candidates: dict[str, Any] = {
            "2": {"text": person.email},
            "3": {"date": start.isoformat()},
            "4": {"choices": [rng.choice(["1", "2", "3"])]},
            "5": self._picks(["1", "2", "3"], EQUIPMENT_OTHER),
            "6": {"text": desk},
            "7": {"choices": [rng.choice(["1", "2", "3"])]},
            "8": {"users": self._users(1, 1)},
            "9": {"users": self._users(1, 3)},
            "10": {"date": start.isoformat(), "time": rng.choice(TIMES)},
            "11": {"time": rng.choice(TIMES)},
            "12": {"text": f"https://intranet.example.com/people/{local}"},
            "13": {"text": rng.choice(IT_NOTES)},
        }
        if later:
            candidates["14"] = self._picks(["1", "2", "3", "4"])
            if status != "o":
                candidates["15"] = {"text": rng.choice(ACCESSIBILITY)}
        required = {"2", "3", "7"} if status != "o" else set()
        answers = {"1": {"text": person.name}}
        for question_id, answer in candidates.items():
            if question_id in required or self._answered(status):
                answers[question_id] = answer
        return answers

    def _second_hr_form(
        self, issue: Issue, person: Person, moment: datetime, design: dict[str, Any], later: bool
    ) -> None:
        if self.rng.random() < 0.5:
            issue.skip_form_id()
        status = self.rng.choice(SECOND_FORM_STATUSES)
        updated = _iso(moment + timedelta(days=self.rng.randint(1, 9)))
        answers = self._hr_answers(person, status, moment.date(), later)
        issue.add_form(designs.HR_ONBOARDING, _v2_form(design, "i", status, answers, updated))

    def _itsd_answers(
        self, status: str, problem: tuple[str, str, str], asset_tag: bool
    ) -> dict[str, Any]:
        first, marked, rest = problem
        paragraphs = [
            {"type": "paragraph", "content": [
                {"type": "text", "text": first},
                {"type": "text", "text": marked, "marks": [{"type": "strong"}]},
            ]},
            {"type": "paragraph", "content": [{"type": "text", "text": rest}]},
        ]  # fmt: skip
        empty = status == "o" and self.rng.random() < 0.3
        affected = self.rng.choice([str(self.rng.randint(1, 40)), "3.5", "120"])
        candidates: dict[str, Any] = {
            "2": {"text": affected},
            "3": {"text": "", "choices": [self.rng.choice(["1", "2"])]},
            "4": {"users": [{"id": cloud_account_id(self.rng)}]},
        }
        if asset_tag:
            candidates["5"] = {"text": f"LAP-{self.rng.randint(0, 99999):05d}"}
        content = [] if empty else paragraphs
        answers: dict[str, Any] = {"1": {"adf": {"version": 1, "type": "doc", "content": content}}}
        for question_id, answer in candidates.items():
            if self._answered(status):
                answers[question_id] = answer
        return answers

    def _legacy_form(self, status: str, index: int) -> dict[str, Any]:
        moment = self._moment(LEGACY_START, index)
        answers = {
            2: self.rng.choice(SYSTEMS),
            3: self.rng.choice(REASONS),
            4: self.rng.choice(["Needs it by Friday", "", "Manager approved by email"]),
        }
        questions = []
        for definition in self.legacy_questions:
            copied = dict(definition)
            if definition["id"] in answers and (status != "o" or self.rng.random() < 0.7):
                copied["text"] = answers[definition["id"]]
            questions.append(copied)
        return {
            "schemaVersion": designs.LEGACY_SCHEMA_VERSION,
            "id": 0,
            "projectFormId": designs.ACCESS_REQUEST,
            "internal": True,
            "submitted": status != "o",
            "name": "Access request (legacy)",
            "updated": "" if self.rng.random() < 0.05 else _iso(moment),
            "questions": questions,
            "formHash": self.legacy_hash,
        }

    def _change_request(self, issue: Issue, title: str, index: int, later: bool) -> None:
        rng = self.rng
        status = self._status()
        moment = self._moment(V2_START, index)
        planned = moment + timedelta(days=rng.randint(3, 20))
        candidates: dict[str, Any] = {
            "2": {"choices": [rng.choice(["1", "2", "3"])]},
            "3": self._picks(["1", "2", "3", "4"], OTHER_SYSTEMS),
            "4": {"date": planned.date().isoformat(), "time": rng.choice(TIMES)},
            "5": {"text": str(rng.choice([0, 5, 15, 30, 45, 90, 240]))},
            "6": {"users": self._users(1, 3)},
            "7": {"text": rng.choice(["Restore the snapshot taken before the change.", ""])},
            "8": {"text": f"https://wiki.example.com/runbooks/{issue.key.lower()}"},
            "9": {"choices": [rng.choice(["1", "2", "3"])]},
        }
        if later:
            candidates["10"] = {"date": (planned.date() + timedelta(days=7)).isoformat()}
        answers: dict[str, Any] = {"1": {"text": title}} if status != "o" else {}
        for question_id, answer in candidates.items():
            if self._answered(status):
                answers[question_id] = answer
        design = self.change_designs[later]
        form = _v2_form(design, "i", status, answers, _iso(moment))
        issue.add_form(designs.CHANGE_REQUEST, form)
