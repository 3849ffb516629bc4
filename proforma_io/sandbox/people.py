"""Made-up people for generated data: names from many languages, with ASCII email addresses."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Given and family names paired with the ASCII spelling an email address uses.
GIVEN_NAMES = [
    ("Ana", "ana"), ("Jonas", "jonas"), ("Tomás", "tomas"), ("Wei", "wei"),
    ("Priya", "priya"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Åsa", "asa"),
    ("Siobhán", "siobhan"), ("Chloé", "chloe"), ("José", "jose"), ("Olusegun", "olusegun"),
    ("Fatima", "fatima"), ("Dmitri", "dmitri"), ("Mette", "mette"), ("Kwame", "kwame"),
    ("Björn", "bjorn"), ("Inés", "ines"), ("Ravi", "ravi"), ("Emma", "emma"),
    ("Noah", "noah"), ("Leilani", "leilani"), ("Aoife", "aoife"), ("Mateus", "mateus"),
]  # fmt: skip
FAMILY_NAMES = [
    ("Souza", "souza"), ("Müller", "mueller"), ("Ibáñez", "ibanez"), ("Chen", "chen"),
    ("Raman", "raman"), ("Ødegård", "odegard"), ("Kowalski", "kowalski"),
    ("Lindqvist", "lindqvist"), ("O'Neill", "oneill"), ("Dubois", "dubois"),
    ("García", "garcia"), ("Adeyemi", "adeyemi"), ("Al-Sayed", "alsayed"),
    ("Ivanova", "ivanova"), ("Nkemelu", "nkemelu"), ("Jørgensen", "jorgensen"),
    ("Kahananui", "kahananui"), ("Nguyễn", "nguyen"), ("Petrović", "petrovic"),
    ("Smith", "smith"), ("Yılmaz", "yilmaz"), ("Schäfer", "schaefer"),
]  # fmt: skip
# Names written family name first, with the email address their owners use.
EAST_ASIAN_NAMES = [
    ("山田 太郎", "t.yamada"), ("佐藤 花子", "h.sato"), ("김 민준", "m.kim"),
    ("王 芳", "f.wang"), ("李 娜", "n.li"), ("鈴木 一郎", "i.suzuki"),
]  # fmt: skip

EMAIL_DOMAIN = "example.com"


@dataclass(frozen=True)
class Person:
    """A made-up person with a Jira user id."""

    name: str
    email: str
    user_id: str


def random_person(rng: random.Random, user_id: str) -> Person:
    """A person drawn from the name lists, mostly given-family, sometimes East Asian."""
    if rng.random() < 0.12:
        name, local = rng.choice(EAST_ASIAN_NAMES)
        return Person(name, f"{local}@{EMAIL_DOMAIN}", user_id)

    given, given_ascii = rng.choice(GIVEN_NAMES)
    family, family_ascii = rng.choice(FAMILY_NAMES)
    return Person(f"{given} {family}", f"{given_ascii}.{family_ascii}@{EMAIL_DOMAIN}", user_id)


def staff(rng: random.Random, count: int, first_id: int = 10100) -> list[Person]:
    """Jira users with server-style ids `JIRAUSER<n>`, as line managers and colleagues."""
    return [random_person(rng, f"JIRAUSER{first_id + index}") for index in range(count)]


def cloud_account_id(rng: random.Random) -> str:
    """An account id in the newer `<site>:<uuid>` shape, sent without a name."""
    digits = f"{rng.getrandbits(128):032x}"
    uuid = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    return f"712020:{uuid}"
