"""Deterministic generator of realistic OneRoster CSV packages ("districts").

Mappings are only trustworthy if they are exercised against data that looks like what
student-information systems really export: accented and apostrophised names, classes with
two primary teachers or none, dangling references, BOMs, CRLF files, upper-case booleans,
``metadata.*`` columns in odd places.  Real district exports cannot be shared, so this
module fabricates one.  It serves three audiences with one code path:

* the bundled example district (``students=20..100, seed=7``): every edge case must be
  present even at that size, so the rare cases are *forced* onto seed-chosen rows as well
  as occurring at realistic rates;
* benchmarks at 10k / 100k / 1M students: rows are streamed straight to ``csv.writer``s
  and only one school's classes are held in memory at a time;
* users, through ``rostermap generate`` (the CLI wrapper lives elsewhere).

Everything derives from one ``random.Random(seed)`` and from ``school_year``; nothing
reads the clock, so ``(seed, arguments)`` names a byte-identical package.  The random
stream does not depend on ``version`` or ``as_zip``: the 1.1 and 1.2 packages of a seed
describe the same people and classes, only laid out differently.
"""

import contextlib
import csv
import random
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

__all__ = ["GenerateSummary", "SUPPORTED_VERSIONS", "file_types", "generate"]

SUPPORTED_VERSIONS: tuple[str, ...] = ("1.1", "1.2")

_FILE_TYPES_11: tuple[str, ...] = (
    "academicSessions", "categories", "classes", "classResources", "courses",
    "courseResources", "demographics", "enrollments", "lineItems", "orgs", "resources",
    "results", "users",
)  # fmt: skip
_FILE_TYPES_12: tuple[str, ...] = _FILE_TYPES_11 + (
    "roles", "userProfiles", "userResources", "scoreScales", "lineItemScoreScales",
    "resultScoreScales", "lineItemLearningObjectiveIds", "resultLearningObjectiveIds",
)  # fmt: skip

_BASE = ("sourcedId", "status", "dateLastModified")
ORGS_HEADER = _BASE + ("name", "type", "identifier", "parentSourcedId")
# Appended at the right, as SIS exports do with their extension fields.
ORGS_METADATA = ("metadata.address1", "metadata.city", "metadata.state", "metadata.postalCode")
SESSIONS_HEADER = _BASE + (
    "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear",
)  # fmt: skip
COURSES_HEADER = _BASE + (
    "schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId", "subjects",
    "subjectCodes",
)  # fmt: skip
CLASSES_HEADER = _BASE + (
    "title", "grades", "courseSourcedId", "classCode", "classType", "location",
    "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes", "periods",
)  # fmt: skip
ENROLLMENTS_HEADER = _BASE + (
    "classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary", "beginDate",
    "endDate",
)  # fmt: skip
USERS_11_HEADER = _BASE + (
    "enabledUser", "orgSourcedIds", "role", "username", "userIds", "givenName", "familyName",
    "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
    "password",
)  # fmt: skip
USERS_12_HEADER = _BASE + (
    "enabledUser", "username", "userIds", "givenName", "familyName", "middleName",
    "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
    "userMasterIdentifier", "preferredGivenName", "preferredMiddleName",
    "preferredFamilyName", "primaryOrgSourcedId", "pronouns",
)  # fmt: skip
ROLES_HEADER = _BASE + (
    "userSourcedId", "roleType", "role", "beginDate", "endDate", "orgSourcedId",
    "userProfileSourcedId",
)  # fmt: skip
DEMOGRAPHICS_HEADER = _BASE + (
    "birthDate", "sex", "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation",
    "cityOfBirth", "publicSchoolResidenceStatus",
)  # fmt: skip
# Inserted *inside* the users header so that consumers that index columns by position
# instead of by name break loudly on the example district.
USERS_METADATA_COLUMN = "metadata.nickname"
_USERS_METADATA_AFTER = "familyName"

_LF = "\n"
_CRLF = "\r\n"


def file_types(version: str) -> tuple[str, ...]:
    """Every file type a manifest of ``version`` must mention, in manifest order."""
    if version == "1.1":
        return _FILE_TYPES_11
    if version == "1.2":
        return _FILE_TYPES_12
    raise ValueError(f"unsupported OneRoster version {version!r}; expected one of 1.1, 1.2")


def users_header(version: str) -> tuple[str, ...]:
    """The users.csv header as written, i.e. with the mid-header metadata column."""
    spec = USERS_11_HEADER if version == "1.1" else USERS_12_HEADER
    cut = spec.index(_USERS_METADATA_AFTER) + 1
    return spec[:cut] + (USERS_METADATA_COLUMN,) + spec[cut:]


@dataclass(frozen=True)
class GenerateSummary:
    """What was written, so callers (CLI, benchmarks) can report without re-reading files."""

    path: Path
    version: str
    seed: int
    students: int
    counts: Mapping[str, int]  # file name -> data rows (header excluded)

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


# --------------------------------------------------------------------------------------
# Reference data.  Diverse on purpose: mappings must survive accents, apostrophes,
# hyphens, spaces and particles in names.
# --------------------------------------------------------------------------------------

FIRST_NAMES: tuple[str, ...] = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
    "Mia", "Ethan", "Amelia", "James", "Harper", "Benjamin", "Evelyn", "Alexander", "Abigail",
    "Michael", "Emily", "Daniel", "Elizabeth", "William", "Sofía", "José", "Camila",
    "Santiago", "Valentina", "Diego", "Ximena", "Jesús", "María", "Juan", "Lucía", "Ángel",
    "Zoë", "Chloé", "Renée", "André", "Noémie", "Björn", "Søren", "Siobhán", "Seán", "Aoife",
    "Niamh", "Oisín", "Wei", "Mei", "Jun", "Hiroshi", "Yuki", "Sakura", "Min-jun", "Seo-yeon",
    "Ji-woo", "Priya", "Arjun", "Aarav", "Ananya", "Rohan", "Fatima", "Mohammed", "Omar",
    "Aisha", "Yusuf", "Layla", "Zainab", "Ahmed", "Amara", "Chidi", "Oluwaseun", "Kwame",
    "Nia", "Imani", "Jamal", "DeShawn", "Aaliyah", "Jaylen", "D'Andre", "Malik", "Linh",
    "Bảo", "Thảo", "Huy", "Dmitri", "Anastasia", "Łukasz", "Katarzyna", "Zoltán", "João",
    "Inês", "Gabriel", "Isaac", "Leah", "Hannah", "Samuel", "Grace", "Nicholas", "Katherine",
    "Kai", "Maya", "Elena", "Jonathan", "Margaret",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernández", "López", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Pérez", "Thompson", "White", "Harris",
    "Sánchez", "Clark", "Ramírez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Torres", "Nguyễn", "Hill", "Flores", "Green", "Adams", "Baker",
    "Rivera", "Campbell", "Mitchell", "Carter", "O'Brien", "O'Connor", "D'Angelo", "McCarthy",
    "MacDonald", "Kowalski", "Wiśniewski", "Müller", "Schröder", "Johansson", "Dvořák",
    "Ivanov", "Kim", "Park", "Choi", "Wang", "Li", "Zhang", "Chen", "Liu", "Yamamoto",
    "Tanaka", "Satō", "Patel", "Shah", "Singh", "Gupta", "Khan", "Ali", "Hassan", "Okafor",
    "Adeyemi", "Mensah", "Diallo", "Haddad", "Cohen", "Levi", "Rossi", "Esposito", "Silva",
    "Santos", "Oliveira", "Fernández", "Trần", "Phạm", "Begay", "Yazzie", "Kealoha",
    "Smith-Jones", "García-López", "Rivera-Ortiz", "Van der Berg", "De La Cruz", "St. Clair",
    "Ó Súilleabháin",
)  # fmt: skip

# Used for ``metadata.nickname`` / ``preferredGivenName``.
NICKNAMES: Mapping[str, str] = MappingProxyType({
    "Alexander": "Alex", "Benjamin": "Ben", "Elizabeth": "Liz", "William": "Will",
    "Michael": "Mike", "Daniel": "Dan", "Nicholas": "Nick", "Katherine": "Kate",
    "Jonathan": "Jon", "Margaret": "Maggie", "Isabella": "Bella", "Abigail": "Abby",
    "Samuel": "Sam", "Gabriel": "Gabe", "Anastasia": "Nastya", "Mohammed": "Mo",
    "Santiago": "Santi", "Valentina": "Vale", "Katarzyna": "Kasia", "Dmitri": "Dima",
    "Oluwaseun": "Seun", "Evelyn": "Evie", "José": "Pepe", "James": "Jim",
})  # fmt: skip

# (town, state, FIPS state code).  "Cañon City" exercises accent folding in the domain.
_DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("Maplewood", "MN", "27"), ("Cedar Falls", "IA", "19"), ("Riverside", "CA", "06"),
    ("Lakeview", "OR", "41"), ("Pine Ridge", "SD", "46"), ("Brookhaven", "GA", "13"),
    ("Fairview", "TX", "48"), ("Silver Lake", "OH", "39"), ("Oak Harbor", "WA", "53"),
    ("Cañon City", "CO", "08"), ("Willow Springs", "MO", "29"), ("Harmony", "PA", "42"),
    ("Bayside", "NY", "36"), ("Mesa Verde", "AZ", "04"), ("Clearwater", "FL", "12"),
    ("Granite Falls", "NC", "37"), ("Prairie du Sac", "WI", "55"), ("Bristol", "CT", "09"),
    ("Lowell", "MA", "25"), ("Kealakekua", "HI", "15"),
)  # fmt: skip
_DISTRICT_KINDS = (
    "Public Schools", "Unified School District", "Independent School District",
    "School District", "Community Schools",
)  # fmt: skip
_OTHER_STATES = ("CA", "TX", "NY", "FL", "IL", "MN", "WA", "GA", "AZ", "OH")
_OTHER_CITIES = (
    "Los Angeles", "Houston", "Chicago", "Phoenix", "Minneapolis", "Seattle", "Atlanta",
    "Columbus", "Miami", "San Antonio",
)  # fmt: skip
_OTHER_COUNTRIES = ("MX", "GT", "SV", "HN", "VN", "CN", "IN", "PH", "SO", "UA", "NG", "BR")
_PERSONAL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com")
_AREA_CODES = ("612", "319", "951", "541", "605", "404", "214", "419", "360", "719")
_STREETS = (
    "Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
    "River", "Church", "Mill", "Highland", "Sunset", "Jefferson", "Franklin", "Meadow",
)  # fmt: skip
_STREET_KINDS = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Way")

_ELEMENTARY_NAMES = (
    "Lincoln", "Washington", "Jefferson", "Oak Grove", "Meadowbrook", "Sunnyside",
    "Hillcrest", "Westview", "Eastwood", "César Chávez", "Harriet Tubman", "Sally Ride",
    "Roberto Clemente", "Rosa Parks", "Maya Angelou", "Sequoyah", "Pinecrest", "Riverbend",
    "Lakeside", "Cedar Ridge", "Prairie View", "Bear Creek", "Fox Hollow", "Sandpiper",
    "Mountain View", "Garfield", "Whittier", "Emerson", "Longfellow", "Sojourner Truth",
    "Ellen Ochoa", "Dolores Huerta", "Daniel K. Inouye", "Wilma Mankiller", "Mae Jemison",
)  # fmt: skip
_MIDDLE_NAMES = (
    "Thomas Edison", "Benjamin Franklin", "John Muir", "Jackie Robinson", "Amelia Earhart",
    "Rachel Carson", "Frederick Douglass", "Marie Curie", "Katherine Johnson",
    "Sandra Day O'Connor", "Grace Hopper", "Valley", "Northridge", "Southgate", "Ridgeview",
    "Highland", "Canyon", "Lakewood",
)  # fmt: skip
_HIGH_NAMES = (
    "North", "South", "East", "West", "Central", "Kennedy", "Roosevelt", "Hamilton",
    "Madison", "Summit", "Heritage", "Liberty", "Pioneer", "Frontier", "Ridgemont",
)  # fmt: skip

_GRADES: tuple[str, ...] = ("KG",) + tuple(f"{g:02d}" for g in range(1, 13))
_GRADE_NUMBER: Mapping[str, int] = MappingProxyType({g: i for i, g in enumerate(_GRADES)})
_LEVEL_GRADES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "elementary": _GRADES[0:6], "middle": _GRADES[6:9], "high": _GRADES[9:13],
})  # fmt: skip

# SCED subject-area names; none contains a comma because `subjects` is itself a comma list.
_SUBJECTS: Mapping[str, str] = MappingProxyType({
    "homeroom": "Homeroom", "math": "Mathematics", "ela": "English Language and Literature",
    "science": "Life and Physical Sciences", "social": "Social Sciences and History",
    "lang": "World Languages", "arts": "Fine and Performing Arts", "pe": "Physical Education",
    "cs": "Computer and Information Sciences",
})  # fmt: skip
_CORE_DEPTS = ("math", "ela", "science", "social")
# Electives are optional, so a student skips a full one instead of piling into a lone section.
_ELECTIVE_CAP = 34
_ELECTIVE_DEPTS = ("lang", "arts", "pe", "cs")
# Secondary teachers are handed departments in this rotation, core subjects first so that a
# three-teacher school still covers the essentials.
_DEPT_ROTATION = (
    "math", "ela", "science", "social", "lang", "arts", "pe",
    "math", "ela", "science", "social", "cs",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _CourseTemplate:
    title: str
    dept: str
    code: str
    subject_code: str
    grades: tuple[str, ...]


def _elementary_templates() -> tuple[_CourseTemplate, ...]:
    out: list[_CourseTemplate] = []
    for n, g in enumerate(_LEVEL_GRADES["elementary"]):
        label = "Kindergarten" if g == "KG" else f"Grade {n}"
        out += [
            _CourseTemplate(f"Homeroom {label}", "homeroom", f"HR-{g}", "51000", (g,)),
            _CourseTemplate(f"Mathematics {label}", "math", f"MA-{g}", f"520{n:02d}", (g,)),
            # A comma in a title that every elementary school carries.
            _CourseTemplate(
                f"Reading, Writing and Spelling {label}", "ela", f"LA-{g}", f"510{n:02d}", (g,)
            ),
            _CourseTemplate(f"Science {label}", "science", f"SC-{g}", f"530{n:02d}", (g,)),
            _CourseTemplate(f"Social Studies {label}", "social", f"SS-{g}", f"540{n:02d}", (g,)),
        ]
    every = _LEVEL_GRADES["elementary"]
    out += [
        _CourseTemplate("Art", "arts", "AR-K5", "55001", every),
        _CourseTemplate("General Music", "arts", "MU-K5", "55101", every),
        _CourseTemplate("Physical Education", "pe", "PE-K5", "58001", every),
    ]
    return tuple(out)


def _middle_templates() -> tuple[_CourseTemplate, ...]:
    out: list[_CourseTemplate] = []
    for g in _LEVEL_GRADES["middle"]:
        n = int(g)
        out += [
            _CourseTemplate(f"Mathematics {n}", "math", f"MA-{g}", f"0200{n - 5}", (g,)),
            _CourseTemplate(
                f"English Language Arts {n}", "ela", f"LA-{g}", f"0105{n - 5}", (g,)
            ),
            _CourseTemplate(f"Science {n}", "science", f"SC-{g}", f"0300{n - 5}", (g,)),
        ]
    out += [
        _CourseTemplate("World Geography", "social", "SS-06", "04001", ("06",)),
        _CourseTemplate("World History, Ancient Civilizations", "social", "SS-07", "04052",
                        ("07",)),
        _CourseTemplate("U.S. History", "social", "SS-08", "04101", ("08",)),
        _CourseTemplate("Pre-Algebra", "math", "MA-PRE", "02051", ("07", "08")),
        _CourseTemplate("Algebra I", "math", "MA-ALG1", "02052", ("08",)),
        _CourseTemplate("Spanish, Exploratory", "lang", "WL-SPX", "06100", ("06", "07", "08")),
        _CourseTemplate("French I", "lang", "WL-FR1", "06121", ("07", "08")),
        _CourseTemplate("Band", "arts", "AR-BND", "05101", ("06", "07", "08")),
        _CourseTemplate("Choir", "arts", "AR-CHR", "05110", ("06", "07", "08")),
        _CourseTemplate("Visual Art", "arts", "AR-VIS", "05154", ("06", "07", "08")),
        _CourseTemplate("Physical Education", "pe", "PE-68", "08001", ("06", "07", "08")),
        _CourseTemplate("Computer Applications", "cs", "CS-APP", "10004", ("06", "07", "08")),
    ]
    return tuple(out)


def _high_templates() -> tuple[_CourseTemplate, ...]:
    rows: list[tuple[str, str, str, str, tuple[str, ...]]] = [
        ("Algebra I", "math", "MA-ALG1", "02052", ("09", "10")),
        ("Geometry", "math", "MA-GEO", "02072", ("09", "10", "11")),
        ("Algebra II", "math", "MA-ALG2", "02056", ("10", "11", "12")),
        ("Pre-Calculus", "math", "MA-PCAL", "02110", ("11", "12")),
        ("AP Calculus AB", "math", "MA-APCAB", "02124", ("11", "12")),
        ("Probability and Statistics", "math", "MA-STAT", "02201", ("11", "12")),
        ("English 9", "ela", "LA-09", "01001", ("09",)),
        ("English 10", "ela", "LA-10", "01002", ("10",)),
        ("English 11", "ela", "LA-11", "01003", ("11",)),
        ("English 12", "ela", "LA-12", "01004", ("12",)),
        ("AP English Language and Composition", "ela", "LA-APLC", "01005", ("11", "12")),
        ("Biology", "science", "SC-BIO", "03051", ("09", "10")),
        ("Chemistry", "science", "SC-CHEM", "03101", ("10", "11")),
        ("Physics", "science", "SC-PHYS", "03151", ("11", "12")),
        ("Anatomy and Physiology", "science", "SC-ANAT", "03053", ("11", "12")),
        ("World History", "social", "SS-WH", "04051", ("09", "10")),
        ("U.S. History", "social", "SS-USH", "04101", ("11",)),
        ("American Government, Economics", "social", "SS-GOVE", "04151", ("12",)),
        ("AP Psychology", "social", "SS-APPSY", "04256", ("11", "12")),
        ("Spanish I", "lang", "WL-SP1", "06101", ("09", "10", "11", "12")),
        ("Spanish II", "lang", "WL-SP2", "06102", ("09", "10", "11", "12")),
        ("Spanish III", "lang", "WL-SP3", "06103", ("10", "11", "12")),
        ("French I", "lang", "WL-FR1", "06121", ("09", "10", "11", "12")),
        ("Mandarin Chinese I", "lang", "WL-ZH1", "06401", ("09", "10", "11", "12")),
        ("Studio Art", "arts", "AR-STU", "05154", ("09", "10", "11", "12")),
        ("Concert Band", "arts", "AR-BND", "05101", ("09", "10", "11", "12")),
        ("Choir", "arts", "AR-CHR", "05110", ("09", "10", "11", "12")),
        ("Theatre Arts", "arts", "AR-THE", "05051", ("09", "10", "11", "12")),
        ("Physical Education", "pe", "PE-912", "08001", ("09", "10")),
        ("Health, Wellness and Fitness", "pe", "PE-HWF", "08051", ("09", "10", "11", "12")),
        ("Computer Science Principles", "cs", "CS-CSP", "10019", ("09", "10", "11", "12")),
        ("AP Computer Science A", "cs", "CS-APA", "10157", ("10", "11", "12")),
    ]
    return tuple(_CourseTemplate(*row) for row in rows)


_TEMPLATES: Mapping[str, tuple[_CourseTemplate, ...]] = MappingProxyType({
    "elementary": _elementary_templates(), "middle": _middle_templates(),
    "high": _high_templates(),
})  # fmt: skip

_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss",
                       "æ": "ae", "Æ": "AE", "œ": "oe"})
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz-")


def _slug(text: str) -> str:
    """ASCII-fold a name for usernames/domains: real SIS accounts are ASCII even when the
    display name is not (``Nguyễn`` -> ``nguyen``, ``O'Brien`` -> ``obrien``)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD)).lower()
    return "".join(c for c in decomposed if c in _SLUG_CHARS)


_FIRST_SLUGS = tuple(_slug(n) for n in FIRST_NAMES)
_LAST_SLUGS = tuple(_slug(n) for n in LAST_NAMES)


def _permuter(rng: random.Random, modulus: int) -> tuple[int, int]:
    """(multiplier, offset) of a bijection i -> (i*a + b) % modulus, so that identifiers look
    scattered yet are unique without remembering the ones already issued."""
    a = rng.randrange(modulus // 10, modulus) | 1
    while a % 3 == 0 or a % 5 == 0:
        a += 2
    return a, rng.randrange(modulus)


def _allocate(courses: Sequence["_Course"], slots: int, rotate: int) -> list["_Course"]:
    """Split ``slots`` sections over ``courses`` by demand: each grade's students are shared
    by the courses open to that grade (largest remainder, every course at least once when
    there are enough slots).  ``rotate`` varies which course the first teacher gets."""
    covering: dict[str, int] = {}
    for c in courses:
        for g in c.template.grades:
            covering[g] = covering.get(g, 0) + 1
    weights = [sum(1 / covering[g] for g in c.template.grades) for c in courses]
    total = sum(weights)
    shares = [slots * w / total for w in weights]
    counts = [int(x) for x in shares]
    if slots >= len(courses):
        counts = [max(1, n) for n in counts]
    spare = slots - sum(counts)
    by_remainder = sorted(range(len(courses)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[:max(0, spare)]:
        counts[i] += 1
    while sum(counts) > slots:  # the "at least one" floor overshot: trim the largest
        counts[max(range(len(counts)), key=lambda i: (counts[i], -i))] -= 1
    order = list(range(rotate, len(courses))) + list(range(rotate))
    return [courses[i] for i in order for _ in range(counts[i])]


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


# --------------------------------------------------------------------------------------
# Working records.
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _School:
    no: int
    sourced_id: str
    name: str
    level: str
    grades: tuple[str, ...]
    identifier: str
    students: int = 0


@dataclass(slots=True)
class _Staff:
    sourced_id: str
    role: str  # teacher | administrator | districtAdministrator | aide
    school: int  # index into schools, -1 for district staff
    given: str
    family: str
    middle: str
    nickname: str
    pronouns: str
    username: str
    email: str
    identifier: str
    status: str = ""
    modified: str = ""
    enabled: str = "true"
    dept: str = ""
    grade: str = ""
    second: int = -1
    n_classes: int = 0
    n_away: int = 0
    periods: list[int] = field(default_factory=list)
    location: str = ""


@dataclass(slots=True)
class _Course:
    sourced_id: str
    template: _CourseTemplate
    sections: int = 0


# (classSourcedId, beginDate, endDate): all a student enrollment needs from its class.
_ClassRef = tuple[str, str, str]


@dataclass(slots=True)
class _SchoolIndex:
    """One school's offer, held only while that school's students are generated."""

    groups: dict[str, list[list[_ClassRef]]] = field(default_factory=dict)
    specials: list[_ClassRef] = field(default_factory=list)
    by_grade_dept: dict[tuple[str, str], list[_ClassRef]] = field(default_factory=dict)
    by_grade: dict[str, list[_ClassRef]] = field(default_factory=dict)
    every: list[_ClassRef] = field(default_factory=list)
    load: dict[str, int] = field(default_factory=dict)  # classSourcedId -> students so far


@dataclass(slots=True)
class _Household:
    family: str
    family_slug: str
    parents: list[dict[str, str]]
    roles: list[str]
    children: list[str]


# Forced edge cases.  Each is attached to a seed-chosen row and stays "pending" until a row
# able to carry it comes along, so even a 20-student district has every one of them.
_STUDENT_CASES = (
    "tobedeleted", "inactive", "disabled", "disabled_title", "enabled_upper", "no_email",
    "foreign_email", "guardian", "dropped_enrollment", "dangling", "nickname",
)  # fmt: skip
_CLASS_CASES = (
    "no_teacher", "no_primary", "two_primary", "co_teacher", "co_teacher_title",
    "primary_upper", "deleted", "scheduled_upper", "comma_title", "double_period",
)  # fmt: skip
_TEACHING_CASES = frozenset(
    {"no_teacher", "no_primary", "two_primary", "co_teacher", "co_teacher_title"}
)


class _Writer:
    """A csv.writer that counts its data rows, because the summary must not re-read files."""

    def __init__(self, handle: IO[str], header: Sequence[str], line_end: str) -> None:
        self._writer = csv.writer(handle, lineterminator=line_end)
        self._writer.writerow(header)
        self.rows = 0

    def row(self, values: Iterable[Any]) -> None:
        self._writer.writerow(values)
        self.rows += 1


# --------------------------------------------------------------------------------------
# The generator proper.
# --------------------------------------------------------------------------------------


class _District:
    def __init__(self, rng: random.Random, students: int, version: str, year: int) -> None:
        self.rng = rng
        self.n_students = students
        self.version = version
        self.year = year
        self.users_header = users_header(version)
        self.usernames: dict[str, int] = {}
        self.enrollment_no = 0
        self.role_no = 0
        self.parent_no = 0
        self.class_no = 0
        self.student_no = 0
        self.pending: set[str] = set()
        self.forced_students: dict[int, str] = {}
        self.forced_classes: dict[int, str] = {}
        self.last_class: tuple[_ClassRef, str] | None = None

        town, state, fips = rng.choice(_DISTRICTS)
        self.town = town
        self.state = state
        self.name = f"{town} {rng.choice(_DISTRICT_KINDS)}"
        self.domain = f"{_slug(town)}.k12.us"
        self.lea_id = f"{fips}{rng.randrange(100, 100000):05d}"
        self.district_id = "dist-1"
        self.postal_code = f"{rng.randrange(1000, 99999):05d}"
        self.area_code = rng.choice(_AREA_CODES)

        self._calendar()
        self.student_perm = _permuter(rng, 9_000_000_000)
        self.staff_perm = _permuter(rng, 900_000)
        self.schools = self._plan_schools()

    # -- calendar ------------------------------------------------------------------------

    def _calendar(self) -> None:
        y = self.year
        start = _next_weekday(date(y - 1, 8, 15), 0)
        s1_end = _next_weekday(date(y - 1, 12, 18), 5)  # exclusive: Saturday after last day
        s2_start = _next_weekday(date(y, 1, 5), 0)
        end = _next_weekday(date(y, 6, 8), 5)
        q1_end = start + timedelta(weeks=9)
        q3_end = s2_start + timedelta(weeks=10)
        self.year_id = f"as-{y}"
        s1, s2 = f"as-{y}-s1", f"as-{y}-s2"
        label = f"{y - 1}-{y}"
        self.sessions: list[tuple[str, str, str, date, date, str]] = [
            (self.year_id, label, "schoolYear", start, end, ""),
            (s1, f"Fall Semester {label}", "semester", start, s1_end, self.year_id),
            (s2, f"Spring Semester {label}", "semester", s2_start, end, self.year_id),
            (f"as-{y}-q1", f"Quarter 1 {label}", "gradingPeriod", start, q1_end, s1),
            (f"as-{y}-q2", f"Quarter 2 {label}", "gradingPeriod", q1_end, s1_end, s1),
            (f"as-{y}-q3", f"Quarter 3 {label}", "gradingPeriod", s2_start, q3_end, s2),
            (f"as-{y}-q4", f"Quarter 4 {label}", "gradingPeriod", q3_end, end, s2),
        ]
        iso = date.isoformat
        self.terms: dict[str, tuple[str, str, str]] = {
            "year": (f"{s1},{s2}", iso(start), iso(end)),
            "s1": (s1, iso(start), iso(s1_end)),
            "s2": (s2, iso(s2_start), iso(end)),
        }
        self.modified_base = datetime(start.year, start.month, start.day, 7, 0, 0)
        # Birth windows: a kindergartner is 5 on September 1st of the school year.
        self.birth_start = {
            g: date(y - 7 - n, 9, 2).toordinal() for g, n in _GRADE_NUMBER.items()
        }

    def stamp(self) -> str:
        """A dateLastModified for a changed row: inside the autumn term, never 'now'."""
        moment = self.modified_base + timedelta(seconds=self.rng.randrange(110 * 86400))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    # -- schools -------------------------------------------------------------------------

    def _plan_schools(self) -> list[_School]:
        rng = self.rng
        n = max(3, self.n_students // 600)
        n_high = max(1, round(n * 0.2))
        n_middle = max(1, round(n * 0.2))
        n_elem = n - n_high - n_middle
        plan = ["elementary"] * n_elem + ["middle"] * n_middle + ["high"] * n_high
        pools = {
            "elementary": rng.sample(_ELEMENTARY_NAMES, len(_ELEMENTARY_NAMES)),
            "middle": rng.sample(_MIDDLE_NAMES, len(_MIDDLE_NAMES)),
            "high": [self.town] + rng.sample(_HIGH_NAMES, len(_HIGH_NAMES)),
        }
        kinds = {"elementary": "Elementary School", "middle": "Middle School",
                 "high": "High School"}
        school_base = rng.randrange(100, 90000)
        schools: list[_School] = []
        seen: dict[str, int] = {}
        for no, level in enumerate(plan, start=1):
            k = seen.get(level, 0)
            seen[level] = k + 1
            pool = pools[level]
            name = f"{pool[k % len(pool)]} {kinds[level]}"
            if k >= len(pool):
                name += f" No. {k // len(pool) + 1}"
            schools.append(_School(
                no=no, sourced_id=f"sch-{no}", name=name, level=level,
                grades=_LEVEL_GRADES[level],
                identifier=f"{self.lea_id}{(school_base + no) % 100000:05d}",
            ))  # fmt: skip
        # Equal grade cohorts district-wide, so high schools come out bigger than
        # elementary ones, with some jitter between schools of a level.
        weights = [len(s.grades) / 13 / plan.count(s.level) * rng.uniform(0.8, 1.2)
                   for s in schools]
        total = sum(weights)
        shares = [self.n_students * w / total for w in weights]
        counts = [int(x) for x in shares]
        order = sorted(range(n), key=lambda i: counts[i] - shares[i])
        for i in order[: self.n_students - sum(counts)]:
            counts[i] += 1
        for school, count in zip(schools, counts, strict=True):
            school.students = count
        return schools

    # -- people --------------------------------------------------------------------------

    def username(self, base: str) -> str:
        """``first.last`` then ``first.last.2``...: bases never contain two dots, so suffixed
        names cannot collide with another base.  Memory is bounded by the name lists."""
        count = self.usernames.get(base, 0) + 1
        self.usernames[base] = count
        return base if count == 1 else f"{base}.{count}"

    def person(self) -> tuple[str, str, str, str, str, str, str]:
        """given, family, given slug, family slug, middle, nickname, pronouns."""
        rng = self.rng
        i = rng.randrange(len(FIRST_NAMES))
        j = rng.randrange(len(LAST_NAMES))
        given = FIRST_NAMES[i]
        r = rng.random()
        middle = ""
        if r < 0.25:
            middle = rng.choice(FIRST_NAMES)
        elif r < 0.35:
            middle = f"{rng.choice('ABCDEFGHJKLMNPRSTW')}."
        nickname = NICKNAMES.get(given, "") if rng.random() < 0.35 else ""
        pronouns = rng.choice(("she/her", "he/him", "they/them")) if rng.random() < 0.03 else ""
        return given, LAST_NAMES[j], _FIRST_SLUGS[i], _LAST_SLUGS[j], middle, nickname, pronouns

    def phone(self) -> str:
        return f"({self.area_code}) 555-01{self.rng.randrange(100):02d}"

    def emit_user(self, out: "_Outputs", u: dict[str, str], orgs: Sequence[str], role11: str,
                  role12: str) -> None:
        """1.1 keeps org and role on the user; 1.2 moves them to roles.csv (one per org)."""
        if self.version == "1.1":
            u["orgSourcedIds"] = ",".join(orgs)
            u["role"] = role11
        else:
            u["primaryOrgSourcedId"] = orgs[0]
            u["preferredGivenName"] = u.get(USERS_METADATA_COLUMN, "")
            assert out.roles is not None
            for k, org in enumerate(orgs):
                self.role_no += 1
                out.roles.row((
                    f"rol-{self.role_no}", u["status"], u["dateLastModified"], u["sourcedId"],
                    "primary" if k == 0 else "secondary", role12, "", "", org, "",
                ))  # fmt: skip
        out.users.row([u.get(c, "") for c in self.users_header])

    # -- staff ---------------------------------------------------------------------------

    def plan_staff(self) -> list[list[_Staff]]:
        rng = self.rng
        staff_no = 0

        def make(role: str, school: int) -> _Staff:
            nonlocal staff_no
            staff_no += 1
            given, family, gs, fs, middle, nick, pron = self.person()
            username = self.username(f"{gs}.{fs}")
            a, b = self.staff_perm
            prefix = {"teacher": "tch", "aide": "aid"}.get(role, "adm")
            return _Staff(
                sourced_id=f"{prefix}-{staff_no}", role=role, school=school, given=given,
                family=family, middle=middle, nickname=nick, pronouns=pron, username=username,
                email=f"{username}@{self.domain}",
                identifier=f"{100000 + (staff_no * a + b) % 900000}",
            )

        self.district_staff = [make("districtAdministrator", -1)
                               for _ in range(2 + len(self.schools) // 40)]
        by_school: list[list[_Staff]] = []
        for s in self.schools:
            members: list[_Staff] = []
            n_teachers = max(3, round(s.students / 20))
            n_homeroom = max(1, round(n_teachers * 0.8)) if s.level == "elementary" else 0
            grade_offset = rng.randrange(6)
            rotation = rng.randrange(2)
            for k in range(n_teachers):
                t = make("teacher", s.no - 1)
                if k < n_homeroom:
                    t.dept = "homeroom"
                    t.grade = s.grades[(grade_offset + k) % len(s.grades)]
                    t.n_classes = 5
                elif s.level == "elementary":
                    t.dept = ("arts", "pe")[(k + rotation) % 2]
                    t.n_classes = rng.choice((4, 5, 5, 6))
                else:
                    t.dept = _DEPT_ROTATION[k % len(_DEPT_ROTATION)]
                    t.n_classes = rng.choice((4, 5, 5, 5, 6))
                t.location = self._room(t.dept)
                members.append(t)
            members += [make("administrator", s.no - 1) for _ in range(2)]
            members += [make("aide", s.no - 1) for _ in range(max(1, n_teachers // 8))]
            by_school.append(members)

        # Leavers and odd statuses.  The first three teachers of a school are kept clean so
        # every school has enough active teachers for co-teaching; an inactive or
        # tobedeleted teacher teaches nothing.
        for members in by_school:
            teachers_seen = 0
            for m in members:
                r = rng.random()
                clean = m.role == "teacher" and teachers_seen < 3
                teachers_seen += m.role == "teacher"
                if clean:
                    continue
                if r < 0.006:
                    m.status, m.modified = "tobedeleted", self.stamp()
                elif r < 0.008:
                    m.status, m.modified = "inactive", self.stamp()
                elif r < 0.011:
                    m.enabled = "false"
                elif r < 0.02:
                    m.enabled = "TRUE"
                if m.status:
                    m.n_classes = 0
                if r > 0.99:
                    m.email = f"{m.username}@{rng.choice(_PERSONAL_DOMAINS)}"

        teachers = [m for ms in by_school for m in ms if m.role == "teacher"]
        # A foreign-domain staff email, always.
        odd = rng.choice(teachers)
        odd.email = f"{odd.username}@gmail.com"
        # Itinerant teachers (~2%, at least one) teach 1-2 of their classes at a second
        # school: art/PE anywhere (every level has those courses), other subjects only at
        # another school of the same level, where students can actually take them.
        n = len(self.schools)
        level_of = [s.level for s in self.schools]

        def second_school(t: _Staff, anywhere: bool) -> int:
            for _ in range(20):  # rejection sampling: no per-teacher scan of all schools
                k = rng.randrange(n)
                if k != t.school and (anywhere or level_of[k] == level_of[t.school]):
                    return k
            return (t.school + 1) % n if anywhere else -1

        movable = [t for t in teachers if t.dept != "homeroom" and t.n_classes >= 4]
        rate = min(1.0, 0.02 * len(teachers) / max(1, len(movable)))
        for t in movable:
            if rng.random() < rate:
                t.second = second_school(t, t.dept in ("arts", "pe"))
        if all(t.second < 0 for t in movable):
            specials = [t for t in movable if t.dept in ("arts", "pe")]
            forced = rng.choice(specials or movable)
            forced.second = second_school(forced, True)
        for t in movable:
            if t.second >= 0:
                t.n_away = rng.choice((1, 2))
        for t in teachers:
            t.periods = sorted(rng.sample(range(1, 8), t.n_classes))
        return by_school

    def _room(self, dept: str) -> str:
        rng = self.rng
        if dept == "pe":
            return rng.choice(("Gym", "Gym 2", "Field House"))
        if dept == "arts":
            return rng.choice(("Art Room", "Music Room", "Auditorium", "Room 120"))
        return f"Room {rng.randrange(1, 4)}{rng.randrange(1, 40):02d}"

    def write_staff(self, out: "_Outputs", by_school: list[list[_Staff]]) -> None:
        for m in self.district_staff:
            self._emit_staff(out, m, [self.district_id], "administrator", "districtAdministrator")
        for members in by_school:
            for m in members:
                orgs = [self.schools[m.school].sourced_id]
                if m.second >= 0:
                    orgs.append(self.schools[m.second].sourced_id)
                if m.role == "teacher":
                    self._emit_staff(out, m, orgs, "teacher", "teacher")
                elif m.role == "aide":
                    self._emit_staff(out, m, orgs, "aide", "aide")
                else:
                    self._emit_staff(out, m, orgs, "administrator", "siteAdministrator")

    def _emit_staff(self, out: "_Outputs", m: _Staff, orgs: Sequence[str], role11: str,
                    role12: str) -> None:
        u = {
            "sourcedId": m.sourced_id, "status": m.status, "dateLastModified": m.modified,
            "enabledUser": m.enabled, "username": m.username,
            "userIds": f"{{LDAP:{m.username}}},{{HR:{m.identifier}}}",
            "givenName": m.given, "familyName": m.family, "middleName": m.middle,
            USERS_METADATA_COLUMN: m.nickname, "identifier": m.identifier, "email": m.email,
            "grades": m.grade, "userMasterIdentifier": m.identifier, "pronouns": m.pronouns,
        }
        self.emit_user(out, u, orgs, role11, role12)

    # -- courses and classes ---------------------------------------------------------------

    def write_courses(self, out: "_Outputs", school: _School) -> list[_Course]:
        courses: list[_Course] = []
        for k, tpl in enumerate(_TEMPLATES[school.level], start=1):
            course = _Course(f"crs-{school.no}-{k}", tpl)
            out.courses.row((
                course.sourced_id, "", "", self.year_id, tpl.title, tpl.code,
                ",".join(tpl.grades), school.sourced_id, _SUBJECTS[tpl.dept], tpl.subject_code,
            ))  # fmt: skip
            courses.append(course)
        return courses

    def build_school(self, out: "_Outputs", school: _School, home: list[_Staff],
                     visitors: list[_Staff]) -> _SchoolIndex:
        """Write this school's courses, classes and teacher enrollments; return what its
        students may enroll in."""
        rng = self.rng
        courses = self.write_courses(out, school)
        by_key = {(c.template.dept, c.template.grades[0]): c for c in courses}
        by_dept: dict[str, list[_Course]] = {}
        for c in courses:
            by_dept.setdefault(c.template.dept, []).append(c)
        pool = [t for t in home + visitors
                if t.role == "teacher" and not t.status and t.n_classes > 0]
        teaching = [t for t in home if t.role == "teacher" and t.n_classes > 0]
        # A department's sections go to its courses in proportion to demand, in contiguous
        # blocks, so each teacher has one to three preps and no grade is left with a single
        # overflowing section.
        sections: dict[str, list[_Course]] = {}
        for dept, offer in by_dept.items():
            slots = sum(t.n_classes - t.n_away for t in teaching if t.dept == dept)
            if slots and dept != "homeroom":
                sections[dept] = _allocate(offer, slots, rng.randrange(len(offer)))
        taken: dict[str, int] = {}
        index = _SchoolIndex()
        for t in teaching + visitors:
            is_home = t.school == school.no - 1
            periods = t.periods[: t.n_classes - t.n_away] if is_home else \
                t.periods[t.n_classes - t.n_away:]
            if t.dept == "homeroom":
                plan = [by_key[(d, t.grade)] for d in ("homeroom",) + _CORE_DEPTS]
            elif is_home and t.dept in sections:
                start = taken.get(t.dept, 0)
                taken[t.dept] = start + len(periods)
                plan = sections[t.dept][start: start + len(periods)]
            else:  # visiting teacher, or a department this school has no course for
                offer = by_dept.get(t.dept) or by_dept.get("arts") or courses
                plan = [rng.choice(offer) for _ in periods]
            group: list[_ClassRef] = []
            for course, period in zip(plan, periods, strict=False):
                ref = self._write_class(out, school, t, course, period, pool)
                if ref is None:
                    continue
                group.append(ref)
                self._index(index, school, t, course, ref)
            if t.dept == "homeroom" and group:
                index.groups.setdefault(t.grade, []).append(group)
        return index

    def _index(self, index: _SchoolIndex, school: _School, t: _Staff, course: _Course,
               ref: _ClassRef) -> None:
        tpl = course.template
        index.every.append(ref)
        index.load[ref[0]] = 0
        for g in tpl.grades:
            index.by_grade.setdefault(g, []).append(ref)
            index.by_grade_dept.setdefault((g, tpl.dept), []).append(ref)
        if school.level == "elementary" and tpl.dept in ("arts", "pe"):
            index.specials.append(ref)

    def _take(self, case: str) -> bool:
        if case in self.pending:
            self.pending.discard(case)
            return True
        return False

    def _write_class(self, out: "_Outputs", school: _School, owner: _Staff, course: _Course,
                     period: int, pool: list[_Staff]) -> _ClassRef | None:
        """Returns the class for student enrollment, or None when it is being deleted."""
        rng = self.rng
        self.class_no += 1
        forced = self.forced_classes.get(self.class_no)
        if forced:
            self.pending.add(forced)
        tpl = course.template
        course.sections += 1
        homeroom = tpl.dept == "homeroom"

        r_case, r_term, r_style, r_flag = rng.random(), rng.random(), rng.random(), rng.random()
        deleted = self._take("deleted") or r_flag < 0.002
        case = "normal"
        if not deleted:
            for c in ("no_teacher", "no_primary", "two_primary", "co_teacher",
                      "co_teacher_title"):
                if self._take(c):
                    case = c
                    break
            else:
                if r_case < 0.002:
                    case = "no_teacher"
                elif r_case < 0.004:
                    case = "no_primary"
                elif r_case < 0.009:
                    case = "two_primary"
                elif r_case < 0.109:
                    case = "co_teacher"

        if homeroom or (school.level == "elementary" and tpl.dept != "arts" and tpl.dept != "pe"):
            term = "year"
        else:
            term = "year" if r_term < 0.7 else ("s1" if r_term < 0.85 else "s2")
        term_ids, begin, end = self.terms[term]

        if homeroom:
            title = f"{tpl.title} - {owner.family}"
            class_type = "homeroom"
        else:
            title = f"{tpl.title} - Period {period}"
            class_type = "scheduled"
            if self._take("scheduled_upper") or 0.1 < r_style < 0.13:
                class_type = "Scheduled"
        periods = str(period)
        if not homeroom:
            if self._take("comma_title") or r_style < 0.05:
                title = f"{tpl.title} - Period {period} ({owner.family}, {owner.given[0]}.)"
            if self._take("double_period") or 0.5 < r_style < 0.52:
                periods = f"{period},{period + 1}" if period < 7 else f"{period - 1},{period}"

        class_id = f"cls-{self.class_no}"
        status = "tobedeleted" if deleted else ""
        modified = self.stamp() if deleted else ""
        out.classes.row((
            class_id, status, modified, title, ",".join(tpl.grades), course.sourced_id,
            f"{tpl.code}-{course.sections:02d}", class_type, owner.location, school.sourced_id,
            term_ids, _SUBJECTS[tpl.dept], tpl.subject_code, periods,
        ))  # fmt: skip

        teachers: list[tuple[_Staff, str]] = []
        upper = case in ("normal", "two_primary", "co_teacher", "co_teacher_title") \
            and not deleted and self._take("primary_upper")
        owner_primary = "TRUE" if upper or r_flag > 0.98 else "true"
        if case != "no_teacher":
            teachers.append((owner, "false" if case == "no_primary" else owner_primary))
        if case in ("two_primary", "co_teacher", "co_teacher_title"):
            others = [t for t in pool if t is not owner]
            if others:
                co = rng.choice(others)
                if case == "two_primary":
                    flag = "true"
                elif case == "co_teacher_title" or r_flag < 0.02:
                    flag = "False"
                else:
                    flag = "false"
                teachers.append((co, flag))
            else:  # cannot happen with >= 3 active teachers per school; keep the case pending
                self.pending.add(case)
        for teacher, primary in teachers:
            self.enrollment_no += 1
            out.enrollments.row((
                f"enr-{self.enrollment_no}", status, modified, class_id, school.sourced_id,
                teacher.sourced_id, "teacher", primary, begin, end,
            ))  # fmt: skip
        if deleted:
            return None
        ref = (class_id, begin, end)
        self.last_class = (ref, school.sourced_id)
        return ref

    # -- students and families -------------------------------------------------------------

    def write_students(self, out: "_Outputs", school: _School, index: _SchoolIndex) -> None:
        rng = self.rng
        household: _Household | None = None
        elementary = school.level == "elementary"
        grades = school.grades
        a, b = self.student_perm
        for _ in range(school.students):
            self.student_no += 1
            sid = f"stu-{self.student_no}"
            forced = self.forced_students.get(self.student_no)
            if forced:
                self.pending.add(forced)
            grade = rng.choice(grades)

            # Households: ~half of the students have contacts; siblings share them.
            r_house = rng.random()
            if household is not None and len(household.children) < 3 and r_house < 0.25:
                household.children.append(sid)
            else:
                if household is not None:
                    self._close_household(out, household, school)
                household = None
                if "guardian" in self.pending or r_house > 0.55:
                    household = self._open_household(school)
                    household.children.append(sid)

            given, family, gs, fs, middle, nickname, pronouns = self.person()
            if not nickname and self._take("nickname"):
                given = rng.choice(sorted(NICKNAMES))
                gs, nickname = _slug(given), NICKNAMES[given]
            if household is not None:
                family, fs = household.family, household.family_slug
            grad = self.year + 12 - _GRADE_NUMBER[grade]
            username = self.username(f"{gs}.{fs}{grad % 100:02d}")
            identifier = str(1_000_000_000 + (self.student_no * a + b) % 9_000_000_000)

            status, modified, enabled = "", "", "true"
            r = rng.random()
            if self._take("tobedeleted") or r < 0.01:
                status, modified = "tobedeleted", self.stamp()
            elif self._take("inactive") or r < 0.012:
                status, modified = "inactive", self.stamp()
            elif self._take("disabled") or r < 0.014:
                enabled = "false"
            elif self._take("disabled_title") or r < 0.015:
                enabled = "False"
            elif self._take("enabled_upper") or r < 0.025:
                enabled = "TRUE"
            r = rng.random()
            if self._take("no_email") or r < 0.02:
                email = ""
            elif self._take("foreign_email") or r < 0.025:
                email = f"{username}@{rng.choice(_PERSONAL_DOMAINS)}"
            else:
                email = f"{username}@students.{self.domain}"

            u = {
                "sourcedId": sid, "status": status, "dateLastModified": modified,
                "enabledUser": enabled, "username": username,
                "userIds": f"{{LDAP:{username}}},{{StateID:{identifier}}}",
                "givenName": given, "familyName": family, "middleName": middle,
                USERS_METADATA_COLUMN: nickname, "identifier": identifier, "email": email,
                "agentSourcedIds": "" if household is None
                else ",".join(p["sourcedId"] for p in household.parents),
                "grades": grade, "userMasterIdentifier": identifier, "pronouns": pronouns,
            }
            self.emit_user(out, u, [school.sourced_id], "student", "student")
            self._write_demographics(out, sid, status, modified, grade)

            # Schedule: a homeroom team plus specials in elementary; one class per core
            # department plus 2-3 electives in middle/high.
            load = index.load
            picked: list[_ClassRef] = []
            if elementary:
                teams = index.groups.get(grade)
                if teams:
                    team = rng.choice(teams)
                    other = rng.choice(teams)
                    picked.extend(other if load[other[0][0]] < load[team[0][0]] else team)
                if index.specials:
                    picked.append(self._pick(index.specials, load))
                    if rng.random() < 0.3:
                        extra = self._pick(index.specials, load)
                        if extra is not picked[-1]:
                            picked.append(extra)
            else:
                for dept in _CORE_DEPTS:
                    options = index.by_grade_dept.get((grade, dept))
                    if options:
                        picked.append(self._pick(options, load))
                wanted = 2 + (rng.random() < 0.3)
                for dept in rng.sample(_ELECTIVE_DEPTS, len(_ELECTIVE_DEPTS)):
                    options = index.by_grade_dept.get((grade, dept))
                    if options and wanted:
                        choice = self._pick(options, load)
                        if load[choice[0]] < _ELECTIVE_CAP:
                            picked.append(choice)
                            wanted -= 1
            if not picked:
                fallback = index.by_grade.get(grade) or index.every
                picked = rng.sample(fallback, min(6, len(fallback)))
            for ref in picked:
                load[ref[0]] += 1

            for class_id, begin, end in picked:
                e_status, e_modified = status, modified
                if status == "inactive":
                    e_status, e_modified = "", ""
                if not status and (rng.random() < 0.005 or self._take("dropped_enrollment")):
                    e_status, e_modified = "tobedeleted", self.stamp()
                self.enrollment_no += 1
                out.enrollments.row((
                    f"enr-{self.enrollment_no}", e_status, e_modified, class_id,
                    school.sourced_id, sid, "student", "", begin, end,
                ))  # fmt: skip
            if picked and self._take("dangling"):
                self._write_dangling(out, picked[0], school.sourced_id)
        if household is not None:
            self._close_household(out, household, school)

    def _pick(self, options: list[_ClassRef], load: dict[str, int]) -> _ClassRef:
        """Two random sections, keep the emptier: sections of a course end up within a few
        students of each other without an assignment pass over the whole school."""
        first = self.rng.choice(options)
        if len(options) == 1:
            return first
        second = self.rng.choice(options)
        return second if load[second[0]] < load[first[0]] else first

    def _write_dangling(self, out: "_Outputs", ref: _ClassRef, school_id: str) -> None:
        """The one deliberate dangling reference: a student the SIS no longer exports."""
        class_id, begin, end = ref
        self.enrollment_no += 1
        ghost = f"stu-{self.n_students + 1 + self.rng.randrange(5000)}"
        out.enrollments.row((
            f"enr-{self.enrollment_no}", "", "", class_id, school_id, ghost, "student", "",
            begin, end,
        ))  # fmt: skip

    def finish(self, out: "_Outputs") -> None:
        """Place forced cases whose rows never came (tiny districts) where still possible."""
        if "dangling" in self.pending and self.last_class is not None:
            self.pending.discard("dangling")
            ref, school_id = self.last_class
            self._write_dangling(out, ref, school_id)

    def _open_household(self, school: _School) -> _Household:
        rng = self.rng
        first = self.person()
        household = _Household(first[1], first[3], [], [], [])
        n_parents = 2 if rng.random() < 0.6 else 1
        for k in range(n_parents):
            given, family, gs, fs, middle, nickname, pronouns = first if k == 0 else self.person()
            if k == 0 or rng.random() < 0.7:
                family, fs = household.family, household.family_slug
            guardian = "guardian" in self.pending or rng.random() < 0.08
            if guardian:
                self.pending.discard("guardian")
            self.parent_no += 1
            username = self.username(f"{gs}.{fs}")
            r = rng.random()
            email = "" if r < 0.1 else f"{username}@{rng.choice(_PERSONAL_DOMAINS)}"
            if 0.1 <= r < 0.15:
                email = f"{username}@{self.domain}"  # a parent who also works in the district
            status, modified, enabled = "", "", "true"
            r = rng.random()
            if r < 0.005:
                status, modified = "tobedeleted", self.stamp()
            elif r < 0.007:
                status, modified = "inactive", self.stamp()
            elif r < 0.01:
                enabled = "false"
            phone = self.phone()
            household.parents.append({
                "sourcedId": f"par-{self.parent_no}", "status": status,
                "dateLastModified": modified, "enabledUser": enabled, "username": username,
                "givenName": given, "familyName": family, "middleName": middle,
                USERS_METADATA_COLUMN: nickname, "email": email,
                "sms": phone if rng.random() < 0.5 else "", "phone": phone,
                "pronouns": pronouns,
            })  # fmt: skip
            household.roles.append("guardian" if guardian else "parent")
        return household

    def _close_household(self, out: "_Outputs", household: _Household, school: _School) -> None:
        children = ",".join(household.children)
        for parent, role in zip(household.parents, household.roles, strict=True):
            parent["agentSourcedIds"] = children
            self.emit_user(out, parent, [school.sourced_id], role, role)

    def _write_demographics(self, out: "_Outputs", sid: str, status: str, modified: str,
                            grade: str) -> None:
        rng = self.rng
        years_back = 365 if rng.random() < 0.03 else 0  # retained a year
        birth = date.fromordinal(self.birth_start[grade] - years_back + rng.randrange(365))
        r = rng.random()
        sex = "female" if r < 0.49 else "male" if r < 0.98 else "other" if r < 0.99 \
            else "unspecified"
        if self.version == "1.1" and sex in ("other", "unspecified"):
            sex = ""
        races = [False] * 5  # AIAN, Asian, Black, NHPI, White
        r = rng.random()
        if r < 0.05:
            for k in rng.sample(range(5), 2):
                races[k] = True
        else:
            cut = (0.06, 0.12, 0.27, 0.28, 1.0)
            races[next(k for k, c in enumerate(cut) if r < c)] = True
        hispanic = rng.random() < 0.27
        r = rng.random()
        if r < 0.9:
            country = "US"
            state = self.state if rng.random() < 0.8 else rng.choice(_OTHER_STATES)
            city = self.town if state == self.state else rng.choice(_OTHER_CITIES)
        else:
            country, state, city = rng.choice(_OTHER_COUNTRIES), "", ""
        if rng.random() < 0.15:
            city = ""
        residence = "01652" if rng.random() < 0.95 else rng.choice(("01653", "01654"))
        flags = ["true" if x else "false" for x in races]
        out.demographics.row((
            sid, status, modified, birth.isoformat(), sex, flags[0], flags[1], flags[2],
            flags[3], flags[4], "true" if sum(races) > 1 else "false",
            "true" if hispanic else "false", country, state, city, residence,
        ))  # fmt: skip

    # -- orgs and sessions -----------------------------------------------------------------

    def write_orgs(self, out: "_Outputs") -> None:
        rng = self.rng

        def address() -> str:
            return f"{rng.randrange(100, 9999)} {rng.choice(_STREETS)} {rng.choice(_STREET_KINDS)}"

        out.orgs.row((self.district_id, "", "", self.name, "district", self.lea_id, "",
                      address(), self.town, self.state, self.postal_code))
        for s in self.schools:
            street = address() if rng.random() < 0.95 else ""
            out.orgs.row((s.sourced_id, "", "", s.name, "school", s.identifier,
                          self.district_id, street, self.town, self.state, self.postal_code))

    def write_sessions(self, out: "_Outputs") -> None:
        for sid, title, kind, start, end, parent in self.sessions:
            out.sessions.row((sid, "", "", title, kind, start.isoformat(), end.isoformat(),
                              parent, str(self.year)))

    # -- orchestration ---------------------------------------------------------------------

    def run(self, out: "_Outputs") -> None:
        rng = self.rng
        self.write_orgs(out)
        self.write_sessions(out)
        staff = self.plan_staff()
        self.write_staff(out, staff)

        total_classes = sum(t.n_classes for ms in staff for t in ms if t.role == "teacher")
        span = max(len(_CLASS_CASES), int(total_classes * 0.8))
        self.forced_classes = dict(zip(
            rng.sample(range(1, span + 1), min(span, len(_CLASS_CASES))), _CLASS_CASES,
            strict=False,
        ))  # fmt: skip
        span = max(1, int(self.n_students * 0.9))
        self.forced_students = dict(zip(
            rng.sample(range(1, span + 1), min(span, len(_STUDENT_CASES))), _STUDENT_CASES,
            strict=False,
        ))  # fmt: skip

        visitors: dict[int, list[_Staff]] = {}
        for members in staff:
            for t in members:
                if t.second >= 0 and t.n_classes:
                    visitors.setdefault(t.second, []).append(t)
        for k, school in enumerate(self.schools):
            index = self.build_school(out, school, staff[k], visitors.get(k, []))
            self.write_students(out, school, index)
        self.finish(out)


class _Outputs:
    """All CSV files of one package, open at once so rows stream to disk as generated."""

    def __init__(self, root: Path, version: str, stack: contextlib.ExitStack) -> None:
        def open_csv(name: str, header: Sequence[str], line_end: str = _LF,
                     encoding: str = "utf-8") -> _Writer:
            handle = stack.enter_context(
                (root / name).open("w", encoding=encoding, newline="")
            )
            return _Writer(handle, header, line_end)

        self.orgs = open_csv("orgs.csv", ORGS_HEADER + ORGS_METADATA)
        self.sessions = open_csv("academicSessions.csv", SESSIONS_HEADER)
        self.courses = open_csv("courses.csv", COURSES_HEADER)
        # Untidy on purpose: CRLF here, LF elsewhere; a BOM on users.csv only.
        self.classes = open_csv("classes.csv", CLASSES_HEADER, _CRLF)
        self.enrollments = open_csv("enrollments.csv", ENROLLMENTS_HEADER, _CRLF)
        self.users = open_csv("users.csv", users_header(version), encoding="utf-8-sig")
        self.demographics = open_csv("demographics.csv", DEMOGRAPHICS_HEADER)
        self.roles = open_csv("roles.csv", ROLES_HEADER) if version == "1.2" else None

    def counts(self) -> dict[str, int]:
        files = {
            "academicSessions.csv": self.sessions, "classes.csv": self.classes,
            "courses.csv": self.courses, "demographics.csv": self.demographics,
            "enrollments.csv": self.enrollments, "orgs.csv": self.orgs,
            "users.csv": self.users,
        }
        if self.roles is not None:
            files["roles.csv"] = self.roles
        return {name: w.rows for name, w in files.items()}


def _write_manifest(root: Path, version: str, present: Iterable[str]) -> int:
    written = {name.removesuffix(".csv") for name in present}
    rows = [
        ("manifest.version", "1.0"),
        ("oneroster.version", version),
        ("source.systemName", "rostermap generate"),
        ("source.systemCode", "rostermap"),
    ]
    rows += [(f"file.{t}", "bulk" if t in written else "absent") for t in file_types(version)]
    with (root / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=_LF)
        writer.writerow(("propertyName", "value"))
        writer.writerows(rows)
    return len(rows)


def _write_package(root: Path, *, students: int, seed: int, version: str,
                   school_year: int, gradebook: int = 0) -> dict[str, int]:
    with contextlib.ExitStack() as stack:
        out = _Outputs(root, version, stack)
        _District(random.Random(seed), students, version, school_year).run(out)
        counts = out.counts()
    if gradebook:
        from rostermap.devtools.gradebook import write_gradebook

        counts.update(write_gradebook(root, version, seed, gradebook, school_year))
    manifest_rows = _write_manifest(root, version, counts)
    return {"manifest.csv": manifest_rows, **counts}


def _zip_package(root: Path, names: Iterable[str], target: Path) -> None:
    """Fixed timestamps and attributes so that the archive bytes, too, depend only on the
    arguments.  Files are copied in chunks: a 1M-student enrollments.csv is ~0.5 GB."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            source = root / name
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            big = source.stat().st_size >= zipfile.ZIP64_LIMIT
            with source.open("rb") as src, archive.open(info, "w", force_zip64=big) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def generate(out: Path, *, students: int, seed: int = 1, version: str = "1.1",
             as_zip: bool = False, school_year: int = 2026,
             gradebook: int = 0) -> GenerateSummary:
    """Write a synthetic district as a OneRoster CSV package.

    ``out`` is a directory to create (an existing empty one is accepted; a non-empty one is
    refused rather than mixed with stale files) or, with ``as_zip``, the ``.zip`` to write
    (files at the archive root).  The same arguments always produce the same bytes.
    Every forced edge case is present from ``students=20`` on. ``gradebook`` line
    items per class, with a result for each enrolled student, make it a product's
    gradebook export too (``devtools.gradebook``).
    """
    out = Path(out)
    file_types(version)  # validates
    if isinstance(students, bool) or not isinstance(students, int) or students < 1:
        raise ValueError(f"students must be a positive integer, got {students!r}")
    if not 1901 <= school_year <= 9998:
        raise ValueError(f"school_year out of range: {school_year!r}")

    if as_zip:
        if out.is_dir():
            raise ValueError(f"{out} is a directory; as_zip needs the path of a .zip file")
        out.parent.mkdir(parents=True, exist_ok=True)
        # Build next to the target (same file system, so the final rename is atomic).
        with tempfile.TemporaryDirectory(prefix=".rostermap-generate-", dir=out.parent) as tmp:
            staging = Path(tmp) / "package"
            staging.mkdir()
            counts = _write_package(staging, students=students, seed=seed, version=version,
                                    school_year=school_year, gradebook=gradebook)
            partial = Path(tmp) / "package.zip"
            _zip_package(staging, counts, partial)
            partial.replace(out)
    else:
        if out.exists():
            if not out.is_dir():
                raise ValueError(f"{out} exists and is not a directory")
            if any(out.iterdir()):
                raise ValueError(f"refusing to write into non-empty directory {out}")
        out.mkdir(parents=True, exist_ok=True)
        counts = _write_package(out, students=students, seed=seed, version=version,
                                school_year=school_year, gradebook=gradebook)
    return GenerateSummary(path=out, version=version, seed=seed, students=students,
                           counts=MappingProxyType(counts))
