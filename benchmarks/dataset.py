"""The benchmark's data: a 25-question onboarding template and N form responses per project.

Built with the sandbox's store API on the HR onboarding design (15 questions, every question
type) plus ten more questions, so an export has the 25 questions the benchmark calls for. The
first tenth of the forms keep an older 20-question design, as forms added before a design change
do. Everything derives from the seed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from proforma_io.sandbox import designs
from proforma_io.sandbox.people import random_person, staff
from proforma_io.sandbox.store import Issue, Project, SandboxData, Template

TEMPLATE_ID = 3
TEMPLATE_NAME = "New starter onboarding (25 questions)"
FIELDS = ("summary", "priority", "customfield_10012")
OLDER_SHARE = 0.1
ANSWERED_SHARE = 0.85
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
TIMES = ["08:30", "08:45", "09:00", "09:30", "10:00", "13:00", "14:30"]
PRIORITIES = ["Highest", "High", "Medium", "Medium", "Low"]
STORY_POINTS: list[float | int | None] = [None, 1, 2, 2.5, 3, 5, 8]
NOTES = ["Needs VPN token.\nPrefers Linux.", "Left-handed mouse, please.", "", "Contract ends"]
COURSES_OTHER = ["Fire warden", "First aid refresher", "Forklift licence"]


def question_definitions(later_questions: bool = True) -> dict[str, dict[str, Any]]:
    """The 25 questions (20 in the older design): the HR onboarding ones, then ten more."""
    question, choices = designs.question, designs.choices
    questions = dict(designs.hr_onboarding()["questions"])
    questions |= {
        "16": question("ts", "Cost centre", key="cost_centre"),
        "17": question("cd", "Laptop model", listed=choices("13-inch", "14-inch", "16-inch")),
        "18": question("no", "Monthly budget"),
        "19": question("da", "Probation end"),
        "20": question("cs", "Parking needed", listed=choices("Yes", "No")),
    }
    if later_questions:
        questions |= {
            "21": question(
                "cm",
                "Training courses",
                listed=choices("Security basics", "GDPR", "Code of conduct", other=True),
            ),
            "22": question("us", "Mentor"),
            "23": question("dt", "Welcome lunch"),
            "24": question("tl", "Home office address"),
            "25": question("pg", "Comments"),
        }
    return questions


def template_design(later_questions: bool = True) -> dict[str, Any]:
    return designs.v2_design(TEMPLATE_ID, TEMPLATE_NAME, question_definitions(later_questions))


def project_keys(count: int) -> list[str]:
    """`BENCH` for one project; `P01` ... `Pnn` for several."""
    return ["BENCH"] if count == 1 else [f"P{number:02d}" for number in range(1, count + 1)]


def build(responses: int, projects: int = 1, seed: int = 7) -> SandboxData:
    """`projects` projects, each with the template and `responses` forms, one per issue."""
    data = SandboxData()
    generator = _Answers(random.Random(seed))
    newer, older = template_design(), template_design(later_questions=False)
    for key in project_keys(projects):
        data.add_project(Project(key, f"Benchmark {key}", "business"))
        data.add_template(Template(key, TEMPLATE_ID, TEMPLATE_NAME, "v2", newer))
        for index in range(responses):
            design = older if index < responses * OLDER_SHARE else newer
            issue = generator.issue(key, index)
            data.add_issue(issue)
            issue.add_form(TEMPLATE_ID, generator.form(design, index, responses))
    return data


class _Answers:
    """Draws issues and answers from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.staff = staff(rng, 40)
        self.next_issue_id = 10001

    def issue(self, project: str, index: int) -> Issue:
        person = random_person(self.rng, f"JIRAUSER{30000 + index}")
        fields = {
            "summary": f"Onboard {person.name}",
            "priority": {"name": self.rng.choice(PRIORITIES)},
            "customfield_10012": self.rng.choice(STORY_POINTS),
        }
        self.next_issue_id += 1
        return Issue(f"{project}-{index + 1}", str(self.next_issue_id), fields)

    def form(self, design: dict[str, Any], index: int, count: int) -> dict[str, Any]:
        rng = self.rng
        moment = START + timedelta(days=300) * (index / max(count, 1))
        moment += timedelta(seconds=rng.randint(0, 86400), microseconds=rng.randint(0, 999999))
        status = rng.choices(["o", "s", "l"], weights=[25, 50, 25])[0]
        answers = {
            question_id: self.answer(definition, moment)
            for question_id, definition in design["questions"].items()
            if question_id == "1" or rng.random() < ANSWERED_SHARE
        }
        state = {"visibility": "i", "status": status, "answers": answers}
        updated = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"id": 0, "updated": updated, "design": design, "state": state}

    def answer(self, definition: dict[str, Any], moment: datetime) -> dict[str, Any]:
        """An answer of the question's type."""
        rng, kind = self.rng, definition["type"]
        day = (moment + timedelta(days=rng.randint(7, 90))).date().isoformat()
        if kind in ("cs", "cd"):
            return {"choices": [rng.choice(definition["choices"])["id"]]}
        if kind in ("cm", "cl"):
            ids = [c["id"] for c in definition["choices"] if not c.get("other")]
            picked = sorted(rng.sample(ids, rng.randint(1, len(ids))), key=int)
            if any(c.get("other") for c in definition["choices"]) and rng.random() < 0.2:
                return {"choices": [*picked, "0"], "text": rng.choice(COURSES_OTHER)}
            return {"choices": picked}
        if kind in ("us", "um"):
            chosen = rng.sample(self.staff, 1 if kind == "us" else rng.randint(1, 3))
            return {"users": [{"id": p.user_id, "name": p.name} for p in chosen]}
        if kind == "no":
            return {"text": str(rng.choice([rng.randint(1, 450), rng.randint(100, 5000)]))}
        if kind == "da":
            return {"date": day}
        if kind == "dt":
            return {"date": day, "time": rng.choice(TIMES)}
        if kind == "ti":
            return {"time": rng.choice(TIMES)}
        if kind in ("pg", "tl"):
            return {"text": rng.choice(NOTES)}
        if kind == "tu":
            return {"text": f"https://intranet.example.com/people/{rng.randint(1, 99999)}"}
        return {"text": random_person(rng, "").name}
