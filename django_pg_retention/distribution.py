"""How Citus places a database's tables, and which purge graphs it can purge with our guarantees.

On a Citus coordinator a table is local, a reference table (a copy on every node) or distributed
(hash-sharded over the workers by one column). Citus refuses ``SELECT ... FOR UPDATE`` across
shards, which the single-server purge relies on, so a graph with a Citus table is compiled by the
distributed part of the compiler (compiler._DistributedPurge). ``refusals`` names what that part
cannot purge exactly; the system check pg_retention.E019 reports it and the compiled functions
raise it instead of purging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections

from django_pg_retention.graph import EdgeKind, Graph

DISTRIBUTED = "distributed"
REFERENCE = "reference"


@dataclass(frozen=True)
class Placement:
    """One Citus table: distributed (by ``column``) or a reference table."""

    kind: str
    column: str | None


@dataclass(frozen=True)
class Layout:
    """The Citus tables of a database by name (tables on the connection's search_path)."""

    tables: dict[str, Placement] = field(default_factory=dict[str, Placement])

    def of(self, table: str) -> Placement | None:
        return self.tables.get(table)

    def involves(self, graph: Graph) -> bool:
        """Whether any table the purge touches is a Citus table (then the distributed part compiles it)."""
        touched = {n.table for n in graph.nodes} | {e.target.table for e in graph.edges}
        return any(t in self.tables for t in touched)


SINGLE_SERVER = Layout()

_LAYOUT_QUERY = """
SELECT c.relname::text, CASE WHEN p.partmethod = 'h' THEN 'distributed'
                             WHEN p.repmodel = 't' THEN 'reference' ELSE 'local' END,
       CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey) END
  FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
 WHERE c.relnamespace = ANY (SELECT s.oid FROM pg_catalog.pg_namespace s WHERE s.nspname = ANY (current_schemas(false)))
"""


def read_layout(using: str = "default") -> Layout:
    """The Citus tables of database ``using``; empty where Citus is not installed. Citus local
    tables (citus_add_local_table_to_metadata) count as distributed: Citus plans them the same way."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return SINGLE_SERVER
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL")
        row = cursor.fetchone()
        if not row or not row[0]:
            return SINGLE_SERVER
        cursor.execute(_LAYOUT_QUERY)
        rows: list[tuple[str, str, str | None]] = cursor.fetchall()
    tables = {name: Placement(REFERENCE if kind == REFERENCE else DISTRIBUTED, column) for name, kind, column in rows}
    return Layout(tables)


def refusals(graph: Graph, layout: Layout, has_outbox: bool) -> list[str]:
    """Why the distributed purge of ``graph`` could not keep the single-server guarantees, one
    sentence per reason naming the table (empty: it can, or no table of it is a Citus table)."""
    if not layout.involves(graph):
        return []
    out: list[str] = []
    root = graph.root
    if layout.of(root.table) is None:
        out.append(
            f"{root.table} (the purged model's table) is local on the coordinator while the tables its purge "
            "reaches are Citus tables; distribute it (or make it a reference table) with them"
        )
    if graph.has_cycle():
        out.append(
            f"the purge of {root.table} reaches its own tables again (a self or cyclic relation, or multi-table "
            "inheritance), which the distributed purge does not follow"
        )
    order = graph.order()
    for e in graph.edges:
        where = f"{e.label} ({e.target.table} -> {e.source.table})"
        if e.kind in (EdgeKind.GENERIC, EdgeKind.PARENT):
            out.append(f"{where}: generic relations and multi-table inheritance are not purged on Citus")
        elif not e.by_pk:
            out.append(f"{where}: a foreign key to a column other than the primary key of {e.source.table}")
        elif e.kind is EdgeKind.PROTECT and e.target in order and order.index(e.target) < order.index(e.source):
            out.append(f"{where}: PROTECT on rows the same purge deletes earlier through another path")
    if has_outbox:
        out.append(
            f"{root.table}: a model of its purge has files, an after_permanent_delete hook or "
            "retention_snapshot_fields, whose outbox the distributed purge does not write"
        )
    return out


def database_refusals(using: str) -> list[tuple[str, list[str]]]:
    """(model path, reasons) of every policy model of database ``using`` that Citus cannot purge."""
    from django_pg_retention.compiler import has_outbox
    from django_pg_retention.graph import build
    from django_pg_retention.policies import model_path, policy_models

    layout = read_layout(using)
    if not layout.tables:
        return []
    out: list[tuple[str, list[str]]] = []
    for model in policy_models(using):
        graph = build(model)
        reasons = refusals(graph, layout, has_outbox(graph))
        if reasons:
            out.append((model_path(model), reasons))
    return out
