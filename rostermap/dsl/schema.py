"""The OneRoster 1.1 and 1.2 rostering data model, as the mapping language sees it.

Mappings speak of the data model (``orgs``, ``school``, ``enabledUser``), never of
CSV column spellings (``orgSourcedIds``), so one mapping serves a CSV package and
the REST API alike. This module is the single table that says, per entity, each
field's model name, type, CSV column, the versions that have it, and the legacy
spellings real exports still use. The compiler checks mappings against it; the
runtime reads CSV headers and types values with it.

Sources: the 1.2.1 CSV binding and the official 1.2 OpenAPI, with 1.1 columns
cross-checked against real exports (see shared/research/oneroster-spec.md §1.5).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rostermap.dsl import types as t

__all__ = [
    "ENTITIES",
    "reference_markdown",
    "ENUMS",
    "GRADEBOOK",
    "PUSH_BODIES",
    "REST_EMBEDDED",
    "REST_TYPES",
    "VERSIONS",
    "Entity",
    "Field",
    "entity",
    "entity_for_record",
]

VERSIONS = ("1.1", "1.2")
BOTH = frozenset(VERSIONS)
V11 = frozenset({"1.1"})
V12 = frozenset({"1.2"})

# Enumerations. Values are normalised to these spellings when records are read,
# so `classType = "scheduled"` also matches an export that wrote `Scheduled`.
ENUMS: dict[str, tuple[str, ...]] = {
    "status": ("active", "tobedeleted", "inactive"),
    "orgType": ("department", "school", "district", "local", "state", "national"),
    "sessionType": ("gradingPeriod", "semester", "schoolYear", "term"),
    "classType": ("homeroom", "scheduled"),
    "role": (
        "administrator", "aide", "counselor", "districtAdministrator", "guardian", "parent",
        "principal", "proctor", "relative", "siteAdministrator", "student",
        "systemAdministrator", "teacher",
    ),
    "enrollmentRole": (
        "administrator", "aide", "guardian", "parent", "proctor", "relative", "student",
        "teacher",
    ),
    "roleType": ("primary", "secondary"),
    "sex": ("male", "female", "unspecified", "other"),
    "scoreStatus": (
        "exempt", "fully graded", "not submitted", "partially graded", "submitted",
    ),
}


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an entity.

    ``csv`` is the column that carries it in a CSV package (None: not in CSV, for
    example the 1.2 ``users.role``, derived from ``roles.csv``). ``derived`` names
    the versions in which the runtime computes the field instead of reading it.
    ``rest`` is the REST JSON property when it is not the model name (1.2's
    ``preferredFirstName``); references are GUIDRef objects under the model name.
    """

    name: str
    type: t.Type
    csv: str | None
    versions: frozenset[str] = BOTH
    required: bool = False
    aliases: tuple[str, ...] = ()
    derived: frozenset[str] = frozenset()
    sensitive: bool = False  # a secret: never shown, not even with --show-pii
    pii: bool = False  # personal data: explain and reports hide it unless asked
    doc: str = ""
    rest: str = ""

    @property
    def rest_name(self) -> str:
        """The property that carries this field in a REST JSON record."""
        return self.rest or self.name


@dataclass(frozen=True, slots=True)
class Entity:
    name: str  # as in `from users`: the CSV file stem and REST collection
    record: str  # singular, for messages: "user"
    fields: dict[str, Field]
    guidref: str = ""  # the GUIDRef type of its records: org, user, class, ...
    versions: frozenset[str] = BOTH
    # Spec-ordered CSV header per version; other columns are unknown (metadata.* aside).
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    doc: str = ""  # what its records are, in a sentence (editors show it)

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    def field_names(self, version: str | None = None) -> list[str]:
        return sorted(
            name for name, f in self.fields.items() if version is None or version in f.versions
        )


def _f(name: str, type_: t.Type, csv: str | None = "", **kw: object) -> Field:
    return Field(name, type_, name if csv == "" else csv, **kw)  # type: ignore[arg-type]


_BASE = (
    _f("sourcedId", t.STR, required=True, doc="The record's identifier, unique per entity."),
    _f("status", t.enum("status"), doc="Blank in bulk files; active or tobedeleted in deltas."),
    _f("dateLastModified", t.DATETIME, doc="When the source system last changed the record."),
    _f("metadata", t.OBJECT, None,
       doc="Extensions: the metadata.* columns of a CSV file, the metadata object of the API."),
)
_BASE_COLUMNS = ("sourcedId", "status", "dateLastModified")


def _entity(
    name: str,
    record: str,
    fields: Iterable[Field],
    columns: dict[str, tuple[str, ...]],
    versions: frozenset[str] = BOTH,
    doc: str = "",
) -> Entity:
    table = {f.name: f for f in (*_BASE, *fields)}
    full = {v: _BASE_COLUMNS + cols for v, cols in columns.items()}
    guidref = "".join(w.capitalize() if i else w for i, w in enumerate(record.split()))
    return Entity(name, record, table, guidref, versions, full, doc)


_SAME = ("1.1", "1.2")


def _both(cols: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {v: cols for v in _SAME}


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        _entity(
            "orgs",
            "org",
            (
                _f("name", t.STR, required=True, doc="The organisation's name."),
                _f("type", t.enum("orgType"), required=True,
                   doc="What kind of organisation: a school, a district, a department..."),
                _f("identifier", t.STR, doc="In US exports usually the NCES id."),
                _f("parent", t.ref("orgs"), "parentSourcedId",
                   doc="The organisation above it: a school's district."),
            ),
            _both(("name", "type", "identifier", "parentSourcedId")),
            doc="Schools, districts and the other organisations records belong to.",
        ),
        _entity(
            "academicSessions",
            "academic session",
            (
                _f("title", t.STR, required=True, doc="The session's name, such as Fall 2025."),
                _f("type", t.enum("sessionType"), required=True,
                   doc="A school year, a semester, a term or a grading period."),
                _f("startDate", t.DATE, required=True, doc="Inclusive."),
                _f("endDate", t.DATE, required=True, doc="Exclusive, as OneRoster says."),
                _f("parent", t.ref("academicSessions"), "parentSourcedId",
                   doc="The session it is part of: a term's school year."),
                _f("schoolYear", t.INT, required=True, doc="The year the school year ends."),
            ),
            _both(("title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear")),
            doc="School years, semesters, terms and grading periods.",
        ),
        _entity(
            "courses",
            "course",
            (
                _f("schoolYear", t.ref("academicSessions"), "schoolYearSourcedId",
                   aliases=("schoolYearId",), doc="The school year the course is offered in."),
                _f("title", t.STR, required=True, doc="The course's name."),
                _f("courseCode", t.STR, doc="The district's code for the course."),
                _f("grades", t.list_of(t.STR), aliases=("grade",),
                   doc="The grade levels it is for (CEDS codes: KG, 01...)."),
                _f("org", t.ref("orgs"), "orgSourcedId", required=True,
                   doc="The school or district that offers it."),
                _f("subjects", t.list_of(t.STR), doc="Subject names."),
                _f("subjectCodes", t.list_of(t.STR), doc="Subject codes (SCED in the US)."),
            ),
            _both(("schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId",
                   "subjects", "subjectCodes")),
            doc="What is taught: the catalogue entry that classes are sections of.",
        ),
        _entity(
            "classes",
            "class",
            (
                _f("title", t.STR, required=True, doc="The class's name."),
                _f("grades", t.list_of(t.STR), aliases=("grade",),
                   doc="The grade levels it is for (CEDS codes: KG, 01...)."),
                _f("course", t.ref("courses"), "courseSourcedId", required=True,
                   doc="The course it is a section of."),
                _f("classCode", t.STR, doc="The district's code for the class."),
                _f("classType", t.enum("classType"), required=True,
                   doc="homeroom or scheduled."),
                _f("location", t.STR, doc="Where it meets, such as a room."),
                _f("school", t.ref("orgs"), "schoolSourcedId", required=True,
                   doc="The school it is taught at."),
                _f("terms", t.list_of(t.ref("academicSessions")), "termSourcedIds",
                   required=True, aliases=("termSourcedId",),
                   doc="The sessions it runs in."),
                _f("subjects", t.list_of(t.STR), doc="Subject names."),
                _f("subjectCodes", t.list_of(t.STR), doc="Subject codes (SCED in the US)."),
                _f("periods", t.list_of(t.STR), doc="The periods of the day it meets in."),
            ),
            _both(("title", "grades", "courseSourcedId", "classCode", "classType", "location",
                   "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes", "periods")),
            doc="Sections: a course taught at a school in some terms, with its people.",
        ),
        _entity(
            "enrollments",
            "enrollment",
            (
                _f("class", t.ref("classes"), "classSourcedId", required=True,
                   doc="The class the user is in."),
                _f("school", t.ref("orgs"), "schoolSourcedId", required=True,
                   doc="The class's school."),
                _f("user", t.ref("users"), "userSourcedId", required=True,
                   doc="The user enrolled."),
                _f("role", t.enum("enrollmentRole"), required=True,
                   doc="The user's part in the class: student, teacher..."),
                _f("primary", t.BOOL, doc="true for a class's primary teacher."),
                _f("beginDate", t.DATE, doc="Inclusive."),
                _f("endDate", t.DATE, doc="Exclusive."),
            ),
            _both(("classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary",
                   "beginDate", "endDate")),
            doc="A user in a class, with a role: who teaches and who takes it.",
        ),
        _entity(
            "users",
            "user",
            (
                _f("enabledUser", t.BOOL, required=True,
                   doc="Whether the account may be used; false for a disabled one."),
                _f("orgs", t.list_of(t.ref("orgs")), "orgSourcedIds", derived=V12,
                   doc="1.1: orgSourcedIds. 1.2: the orgs of the user's roles, primary first."),
                _f("role", t.enum("role"), derived=V12,
                   doc="1.1: the role column. 1.2: the role of the user's primary role."),
                _f("username", t.STR, pii=True, doc="The name the user signs in with."),
                _f("userIds", t.list_of(t.STR), pii=True,
                   doc="Identifiers in other systems, as {type:id} pairs."),
                _f("givenName", t.STR, required=True, pii=True, doc="The given (first) name."),
                _f("familyName", t.STR, required=True, pii=True,
                   doc="The family (last) name."),
                _f("middleName", t.STR, pii=True, doc="Middle names."),
                _f("identifier", t.STR, aliases=("userId",), pii=True,
                   doc="OneRoster 1.0 called it userId; such a column is read as identifier."),
                _f("email", t.STR, pii=True, doc="The email address."),
                _f("sms", t.STR, pii=True, doc="A number for text messages."),
                _f("phone", t.STR, pii=True, doc="A phone number."),
                _f("agents", t.list_of(t.ref("users")), "agentSourcedIds", aliases=("agents",),
                   doc="Related users: a student's parents and guardians, a parent's children."),
                _f("grades", t.list_of(t.STR), aliases=("grade",),
                   doc="A student's grade levels (CEDS codes: KG, 01...)."),
                _f("password", t.STR, sensitive=True, pii=True,
                   doc="A password; never shown or logged."),
                _f("userMasterIdentifier", t.STR, versions=V12, pii=True,
                   doc="The identifier the district's master system gives the person."),
                _f("preferredGivenName", t.STR, versions=V12, rest="preferredFirstName",
                   pii=True, doc="The given name the person goes by."),
                _f("preferredMiddleName", t.STR, versions=V12, pii=True,
                   doc="The middle name the person goes by."),
                _f("preferredFamilyName", t.STR, versions=V12, rest="preferredLastName",
                   pii=True, doc="The family name the person goes by."),
                _f("primaryOrg", t.ref("orgs"), "primaryOrgSourcedId", versions=V12,
                   doc="The user's main organisation."),
                _f("pronouns", t.STR, versions=V12, pii=True, doc="The person's pronouns."),
            ),
            {
                "1.1": ("enabledUser", "orgSourcedIds", "role", "username", "userIds",
                        "givenName", "familyName", "middleName", "identifier", "email", "sms",
                        "phone", "agentSourcedIds", "grades", "password"),
                "1.2": ("enabledUser", "username", "userIds", "givenName", "familyName",
                        "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds",
                        "grades", "password", "userMasterIdentifier", "resourceSourcedIds",
                        "preferredGivenName", "preferredMiddleName", "preferredFamilyName",
                        "primaryOrgSourcedId", "pronouns"),
            },
            doc="People: students, teachers, staff, parents and guardians.",
        ),
        _entity(
            "roles",
            "role",
            (
                _f("user", t.ref("users"), "userSourcedId", required=True,
                   doc="The user who has the role."),
                _f("roleType", t.enum("roleType"), required=True,
                   doc="primary for the user's main role, else secondary."),
                _f("role", t.enum("role"), required=True, doc="What the user is at the org."),
                _f("beginDate", t.DATE, doc="Inclusive."),
                _f("endDate", t.DATE, doc="Exclusive."),
                _f("org", t.ref("orgs"), "orgSourcedId", required=True,
                   doc="Where the user has the role."),
                _f("userProfile", t.STR, "userProfileSourcedId",
                   doc="The user profile that goes with the role."),
            ),
            {"1.2": ("userSourcedId", "roleType", "role", "beginDate", "endDate",
                     "orgSourcedId", "userProfileSourcedId")},
            versions=V12,
            doc="A user's role at an organisation; a user may have several.",
        ),
        _entity(
            "userProfiles",
            "user profile",
            (
                _f("user", t.ref("users"), "userSourcedId", required=True,
                   doc="The user the profile is for."),
                _f("profileType", t.STR, required=True, doc="What kind of profile it is."),
                _f("vendorId", t.STR, required=True, doc="The vendor of the product."),
                _f("applicationId", t.STR, doc="The product within the vendor's."),
                _f("description", t.STR, doc="A description of the profile."),
                _f("credentialType", t.STR, required=True,
                   doc="What kind of credential it holds."),
                _f("username", t.STR, required=True, pii=True,
                   doc="The name the user signs in to the product with."),
                _f("password", t.STR, sensitive=True, pii=True,
                   doc="A password; never shown or logged."),
            ),
            {"1.2": ("userSourcedId", "profileType", "vendorId", "applicationId",
                     "description", "credentialType", "username", "password")},
            versions=V12,
            doc="A user's account in one vendor's product.",
        ),
        _entity(
            "demographics",
            "demographics record",
            (
                _f("birthDate", t.DATE, pii=True, aliases=("birthdate",),
                   doc="The date of birth."),
                _f("sex", t.enum("sex"), pii=True, doc="male, female, unspecified or other."),
                _f("americanIndianOrAlaskaNative", t.BOOL, pii=True, doc="A race flag."),
                _f("asian", t.BOOL, pii=True, doc="A race flag."),
                _f("blackOrAfricanAmerican", t.BOOL, pii=True, doc="A race flag."),
                _f("nativeHawaiianOrOtherPacificIslander", t.BOOL, pii=True,
                   doc="A race flag."),
                _f("white", t.BOOL, pii=True, doc="A race flag."),
                _f("demographicRaceTwoOrMoreRaces", t.BOOL, pii=True,
                   doc="More than one race."),
                _f("hispanicOrLatinoEthnicity", t.BOOL, pii=True, doc="An ethnicity flag."),
                _f("countryOfBirthCode", t.STR, pii=True, doc="The country of birth's code."),
                _f("stateOfBirthAbbreviation", t.STR, pii=True,
                   doc="The state of birth, abbreviated."),
                _f("cityOfBirth", t.STR, pii=True, doc="The city of birth."),
                _f("publicSchoolResidenceStatus", t.STR, pii=True,
                   doc="Where the student lives relative to the district (a code)."),
            ),
            _both(("birthDate", "sex", "americanIndianOrAlaskaNative", "asian",
                   "blackOrAfricanAmerican", "nativeHawaiianOrOtherPacificIslander", "white",
                   "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity",
                   "countryOfBirthCode", "stateOfBirthAbbreviation", "cityOfBirth",
                   "publicSchoolResidenceStatus")),
            doc="A user's demographic data (its sourcedId is the user's); personal data.",
        ),
    )
}


# --- Gradebook -----------------------------------------------------------------
# OneRoster's gradebook entities: what a product's gradebook export holds, read like
# any roster so that push profiles (mappings the other way, product to SIS) use the
# same language. 1.2 renames lineItems' gradingPeriodSourcedId to
# academicSessionSourcedId (read as the same field), adds lineItems.school,
# categories.weight and results' class and flags.
_GRADEBOOK = (
    _entity(
        "categories",
        "category",
        (
            _f("title", t.STR, required=True),
            _f("weight", t.FLOAT, versions=V12),
        ),
        {"1.1": ("title",), "1.2": ("title", "weight")},
    ),
    _entity(
        "lineItems",
        "line item",
        (
            _f("title", t.STR, required=True),
            _f("description", t.STR),
            _f("assignDate", t.DATE, required=True),
            _f("dueDate", t.DATE, required=True),
            _f("class", t.ref("classes"), "classSourcedId", required=True),
            _f("category", t.ref("categories"), "categorySourcedId", required=True),
            _f("gradingPeriod", t.ref("academicSessions"), "gradingPeriodSourcedId",
               aliases=("academicSessionSourcedId",),
               doc="1.2 calls its column academicSessionSourcedId."),
            _f("resultValueMin", t.FLOAT),
            _f("resultValueMax", t.FLOAT, doc="The points a full score is worth."),
            _f("school", t.ref("orgs"), "schoolSourcedId", versions=V12),
        ),
        {
            "1.1": ("title", "description", "assignDate", "dueDate", "classSourcedId",
                    "categorySourcedId", "gradingPeriodSourcedId", "resultValueMin",
                    "resultValueMax"),
            "1.2": ("title", "description", "assignDate", "dueDate", "classSourcedId",
                    "categorySourcedId", "academicSessionSourcedId", "resultValueMin",
                    "resultValueMax", "schoolSourcedId"),
        },
    ),
    _entity(
        "results",
        "result",
        (
            _f("lineItem", t.ref("lineItems"), "lineItemSourcedId", required=True),
            _f("student", t.ref("users"), "studentSourcedId", required=True),
            _f("scoreStatus", t.enum("scoreStatus"), required=True),
            _f("score", t.FLOAT),
            _f("scoreDate", t.DATE, required=True),
            _f("comment", t.STR, pii=True, doc="A teacher's words about a student."),
            _f("class", t.ref("classes"), "classSourcedId", versions=V12),
            _f("textScore", t.STR, versions=V12),
        ),
        {
            "1.1": ("lineItemSourcedId", "studentSourcedId", "scoreStatus", "score",
                    "scoreDate", "comment"),
            "1.2": ("lineItemSourcedId", "studentSourcedId", "scoreStatus", "score",
                    "scoreDate", "comment", "textScore", "classSourcedId", "inProgress",
                    "incomplete", "late", "missing"),
        },
    ),
)
GRADEBOOK = frozenset(e.name for e in _GRADEBOOK)
ENTITIES.update({e.name: e for e in _GRADEBOOK})
# A push body known to the checker: its required fields, as paths under the root.
PUSH_BODIES: dict[str, tuple[str, ...]] = {
    "lineItem": ("sourcedId", "status", "title", "assignDate", "dueDate", "class",
                 "category", "gradingPeriod", "resultValueMin", "resultValueMax"),
    "result": ("sourcedId", "status", "lineItem", "student", "scoreStatus", "score",
               "scoreDate"),
    "assignment": ("name", "assignment_section/sections_dcid", "assignment_section/name",
                   "assignment_section/duedate", "assignment_section/totalpointvalue"),
    "score": ("assignment_id", "student_id", "assignment_score/score_entered"),
}


# The REST binding. Collections are ``GET {base}/{entity name}`` with the records
# under the entity name (``{"users": [...]}``); each field is under its ``rest_name``.
# GUIDRefs name the referenced record's type; 1.2 users carry their roles inline
# (entity -> the users property holding them), so that entity
# has no collection of its own, and 1.2 users' ``role`` and ``orgs`` are derived
# from ``roles`` as they are from roles.csv.
REST_TYPES: dict[str, str] = {
    "orgs": "org",
    "academicSessions": "academicSession",
    "courses": "course",
    "classes": "class",
    "enrollments": "enrollment",
    "users": "user",
    "demographics": "demographics",
}
REST_EMBEDDED: dict[str, str] = {"roles": "roles"}


def entity(name: str) -> Entity | None:
    """An entity by its collection name, accepting any case (``Users`` is ``users``)."""
    if name in ENTITIES:
        return ENTITIES[name]
    for candidate in ENTITIES.values():
        if candidate.name.lower() == name.lower():
            return candidate
    return None


def entity_for_record(name: str) -> Entity | None:
    """An entity by its record name as the seed tables write it (``Users``, ``Org``)."""
    for candidate in ENTITIES.values():
        if name.lower() in (candidate.name.lower(), candidate.record.replace(" ", "").lower()):
            return candidate
    return None


def reference_markdown() -> str:
    """The data model section of docs/language.md, generated from this table."""
    lines = []
    for e in ENTITIES.values():
        versions = "" if e.versions == BOTH else f" (OneRoster {', '.join(sorted(e.versions))})"
        lines += [f"**{e.name}**{versions}", "", "| field | type | CSV column | notes |",
                  "|---|---|---|---|"]
        for f in e.fields.values():
            notes = []
            if f.versions != BOTH:
                notes.append(f"{', '.join(sorted(f.versions))} only")
            if f.derived:
                notes.append(f"{', '.join(sorted(f.derived))}: from roles.csv")
            if f.aliases:
                notes.append("also read from " + ", ".join(f"`{a}`" for a in f.aliases))
            if f.type.enum:
                notes.append("one of " + ", ".join(ENUMS[f.type.enum]))
            if f.sensitive:
                notes.append("secret")
            elif f.pii:
                notes.append("personal data")
            if f.doc and not f.derived:
                notes.append(f.doc)
            csv = f"`{f.csv}`" if f.csv else ""
            lines.append(f"| `{f.name}` | {f.type} | {csv} | {'; '.join(notes)} |")
        lines.append("")
    return "\n".join(lines)
