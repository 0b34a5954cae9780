"""PowerSchool Learning's six import files, by hand, with polars.

The second bar rostermap must stay close to: what an engineer who knows
polars writes for one vendor, reading a OneRoster 1.1 CSV package lazily. Same
bytes as `rostermap run powerschool-learning` (the benchmark checks): values
trimmed, statuses, roles and booleans read case-insensitively, lists split on
commas, rows sorted, missing values empty. No validation, report or warnings.

    python benchmarks/handwritten_polars.py SOURCE OUT --year 2026 [--google-domain D]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

ACTIVE = ["", "active"]


def scan(source: Path, name: str, columns: list[str]) -> pl.LazyFrame:
    frame = pl.scan_csv(source / name, infer_schema=False, encoding="utf8")
    return frame.select(pl.col(c).str.strip_chars().fill_null("") for c in columns)


def lower(name: str) -> pl.Expr:
    return pl.col(name).str.to_lowercase()


def split(name: str) -> pl.Expr:
    parts = pl.col(name).str.split(",").list.eval(pl.element().str.strip_chars())
    return parts.list.eval(pl.element().filter(pl.element() != ""))


def write(frame: pl.DataFrame, path: Path) -> None:
    frame = frame.sort(frame.columns).with_columns(pl.col(pl.String).replace("", None))
    frame.write_csv(path, line_terminator="\n", quote_style="necessary", null_value="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--google-domain", default="")
    parser.add_argument("--schools", default="")
    args = parser.parse_args()
    source, out = args.source, args.out
    out.mkdir(parents=True, exist_ok=True)
    schools = [s.strip() for s in args.schools.split(",") if s.strip()]
    google = args.google_domain.lower()

    users = (
        scan(source, "users.csv", ["sourcedId", "status", "enabledUser", "orgSourcedIds", "role",
                                   "username", "givenName", "familyName", "identifier", "email"])
        .with_columns(split("orgSourcedIds").alias("orgs"), lower("role").alias("role"))
        .filter(lower("status").is_in(ACTIVE), ~lower("enabledUser").is_in(["false", "0"]),
                pl.col("role").is_in(["student", "teacher"]),
                pl.lit(not schools) | pl.col("orgs").list.eval(
                    pl.element().is_in(schools)).list.any())
        .select(
            pl.col("sourcedId").alias("user_id"), pl.col("givenName").alias("first_name"),
            pl.col("familyName").alias("last_name"), pl.col("username").alias("login"),
            pl.col("email"),
            pl.when(pl.col("role") == "student").then(pl.lit("S")).otherwise(pl.lit("T"))
            .alias("user_type"),
            pl.col("orgs").list.first().fill_null("").alias("organization_id"),
            pl.lit("0").alias("blocked"),
            pl.when(pl.lit(google != "") & (pl.col("email").str.extract(r"@([^@]*)$", 1)
                                            .str.to_lowercase() == google))
            .then(pl.col("email")).otherwise(pl.lit("")).alias("sso_id"),
            pl.col("identifier").alias("field1"),
        )
        .collect()
    )
    write(users.drop("field1"), out / "users.csv")
    write(users.select("user_id", "field1", field2=pl.lit(""), field3=pl.lit("")),
          out / "users_custom.csv")

    orgs = scan(source, "orgs.csv", ["sourcedId", "status", "name"]).filter(
        lower("status").is_in(ACTIVE), pl.lit(not schools) | pl.col("sourcedId").is_in(schools))
    write(orgs.select(organization_id="sourcedId", name="name").collect(),
          out / "organizations.csv")

    enrollments = scan(source, "enrollments.csv", ["status", "classSourcedId", "userSourcedId",
                                                   "role", "primary"]).filter(
        lower("status").is_in(ACTIVE)).with_columns(lower("role").alias("role"))
    teachers = enrollments.filter(pl.col("role") == "teacher",
                                  lower("primary").is_in(["true", "1"]),
                                  pl.col("userSourcedId") != "").join(
        users.lazy().select(userSourcedId="user_id"), on="userSourcedId", how="semi",
    ).group_by("classSourcedId").agg(teacher_id=pl.col("userSourcedId").min())
    classes = (
        scan(source, "classes.csv", ["sourcedId", "status", "title", "classCode",
                                     "schoolSourcedId", "grades"])
        .filter(lower("status").is_in(ACTIVE),
                pl.lit(not schools) | pl.col("schoolSourcedId").is_in(schools))
        .join(teachers, left_on="sourcedId", right_on="classSourcedId", how="left")
        .select(class_id="sourcedId", name="title", code="classCode",
                year=pl.lit(str(args.year)), teacher_id=pl.col("teacher_id").fill_null(""),
                organization_id="schoolSourcedId", field1=split("grades").list.join(","))
        .collect()
    )
    write(classes.drop("field1"), out / "classes.csv")
    write(classes.select("class_id", "field1", field2=pl.lit(""), field3=pl.lit("")),
          out / "classes_custom.csv")

    rosters = (
        enrollments.filter(pl.col("role").is_in(["student", "teacher"]))
        .join(classes.lazy().select("class_id"), left_on="classSourcedId",
              right_on="class_id", how="semi")
        .join(users.lazy().select("user_id"), left_on="userSourcedId", right_on="user_id",
              how="semi")
        .select(class_id="classSourcedId", user_id="userSourcedId",
                role=pl.when(pl.col("role") == "student").then(pl.lit("S"))
                .otherwise(pl.lit("T")))
        .unique()
        .collect()
    )
    write(rosters, out / "rosters.csv")


if __name__ == "__main__":
    main()
