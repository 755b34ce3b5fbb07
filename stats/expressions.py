"""Database expressions the statistics need, written per backend (PostgreSQL and SQLite).

Percentiles and time buckets have no portable SQL: PostgreSQL has ``percentile_cont`` and
``date_bin``; SQLite has neither, so percentiles there come from window functions (see
``stats.selectors``) and buckets from integer arithmetic on the Unix time.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import NotSupportedError
from django.db.models import Aggregate, DateTimeField, Expression, FloatField, Func


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``: the
    value at ``fraction`` of the ordered values, interpolated linearly between neighbours."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()
    allow_distinct = False

    def __init__(self, expression: str | Expression, fraction: float, **extra: object) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("a percentile fraction lies between 0 and 1")
        # A float literal of our own, never user input: safe to place in the SQL text.
        super().__init__(expression, fraction=repr(float(fraction)), **extra)

    def as_sql(self, compiler: object, connection: object, **extra_context: object) -> tuple:
        raise NotSupportedError("percentile_cont needs PostgreSQL; SQLite uses window functions")

    def as_postgresql(self, compiler: object, connection: object, **extra_context: object) -> tuple:
        return super().as_sql(compiler, connection, **extra_context)


class BucketStart(Func):
    """The start of the fixed-length time bucket a timestamp falls in, aligned to the Unix
    epoch, so both backends cut the same buckets (in UTC)."""

    output_field = DateTimeField()

    def __init__(self, expression: str | Expression, *, seconds: int) -> None:
        super().__init__(expression)
        self.seconds = int(seconds)

    def as_sql(self, compiler: object, connection: object, **extra_context: object) -> tuple:
        raise NotSupportedError("time buckets are written for PostgreSQL and SQLite")

    def as_postgresql(self, compiler: object, connection: object, **extra_context: object) -> tuple:
        # date_bin is date_trunc for any stride (5 and 15 minutes have no date_trunc unit).
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"date_bin(%s, {sql}, TIMESTAMPTZ '1970-01-01 00:00:00+00')",
            (timedelta(seconds=self.seconds), *params),
        )

    def as_sqlite(self, compiler: object, connection: object, **extra_context: object) -> tuple:
        # Django keeps SQLite datetimes as UTC text; '%%s' is strftime's Unix time ('%%'
        # because Django turns the query's '%s' into placeholders).
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"datetime(CAST(strftime('%%s', {sql}) AS INTEGER) / %s * %s, 'unixepoch')",
            (*params, self.seconds, self.seconds),
        )
