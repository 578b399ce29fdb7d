"""The deletion graph of a model, read from Django's model meta the way its Collector reads it.

Deleting rows of a model reaches other tables through reverse relations
(``get_fields(include_hidden=True)``: FKs, one-to-ones, auto-created M2M through tables), through
multi-table inheritance (a child row takes its parent rows with it) and through
``GenericRelation`` fields. Each reverse relation's ``on_delete`` decides what happens there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.contrib.contenttypes.fields import GenericRelation
from django.db import connection, models
from django.db.models import deletion


class EdgeKind(StrEnum):
    CASCADE = "CASCADE"
    PARENT = "PARENT"  # MTI: deleting a child row deletes its parent row
    GENERIC = "GENERIC"  # GenericRelation rows of a deleted row
    PROTECT = "PROTECT"
    RESTRICT = "RESTRICT"
    SET = "SET"  # SET_NULL, SET_DEFAULT, SET(constant)
    DO_NOTHING = "DO_NOTHING"


# Edges along which rows are deleted; the others only check or update referencing rows.
DELETING = {EdgeKind.CASCADE, EdgeKind.PARENT, EdgeKind.GENERIC}


class UncompilableRelation(Exception):
    """An ``on_delete`` the database cannot reproduce (a callable SET, a custom handler)."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(f"{label}: {reason}")
        self.label = label
        self.reason = reason


@dataclass(frozen=True)
class Node:
    """A concrete model's table."""

    model: type[models.Model]

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def pk(self) -> str:
        return self.model._meta.pk.column  # type: ignore[union-attr]

    @property
    def pk_type(self) -> str:
        return pk_db_type(self.model)

    @property
    def key_order(self) -> str:
        """How the proof of deletion orders this table's keys: integers as numbers, since they
        arrive nearly sorted and sort almost for free; anything else bytewise."""
        return "numeric" if self.pk_type in ("smallint", "integer", "bigint") else "bytewise"


@dataclass(frozen=True)
class Edge:
    """``target`` rows whose ``column`` matches ``source.to_column`` of deleted ``source`` rows."""

    kind: EdgeKind
    source: Node
    target: Node
    column: str
    to_column: str
    label: str  # app.Model.field, for messages and the audit
    set_value: Any = None  # SET edges: the value to write (already prepared for the database)
    set_type: str = ""  # SET edges: the column's database type
    set_db_default: bool = False  # SET_DEFAULT of a field whose default is its db_default: SET col = DEFAULT
    content_type: tuple[str, str] | None = None  # GENERIC: (app_label, model) of the source
    object_id_type: str = ""  # GENERIC: the object id column's type
    db_constraint: bool = True

    @property
    def by_pk(self) -> bool:
        return self.to_column == self.source.pk

    @property
    def blocked_reason(self) -> str:
        """How the audit names a row this edge keeps: "PROTECT app.Model.field"."""
        return f"{self.kind.value} {self.label}"


@dataclass
class Graph:
    root: Node
    nodes: list[Node] = field(default_factory=list["Node"])
    edges: list[Edge] = field(default_factory=list["Edge"])

    def deleting(self) -> list[Edge]:
        return [e for e in self.edges if e.kind in DELETING]

    def triggers_to_ignore(self) -> list[str]:
        """What the purge puts in pgtrigger.ignore: triggers that would refuse its changes."""
        pgids: set[str] = set()
        for node in self.nodes:
            pgids.update(blocking_triggers(node.model, "DELETE"))
        for e in self.edges:
            if e.kind is EdgeKind.SET:
                pgids.update(blocking_triggers(e.target.model, "UPDATE"))
        return sorted(pgids)

    def has_cycle(self) -> bool:
        """Whether rows can reach their own table again (self FKs, MTI, cycles)."""
        incoming: dict[Node, int] = {n: 0 for n in self.nodes}
        for e in self.deleting():
            incoming[e.target] += 1
        if incoming[self.root]:
            return True
        ready = [n for n, k in incoming.items() if k == 0]
        seen = 0
        while ready:
            node = ready.pop()
            seen += 1
            for e in self.deleting():
                if e.source == node:
                    incoming[e.target] -= 1
                    if incoming[e.target] == 0:
                        ready.append(e.target)
        return seen != len(self.nodes)

    def order(self) -> list[Node]:
        """Nodes with each before the nodes its deletions reach (root first); cycles broken."""
        ordered: list[Node] = []
        seen: set[Node] = set()

        def visit(node: Node, path: set[Node]) -> None:
            if node in seen or node in path:
                return
            path.add(node)
            for e in self.deleting():
                if e.source == node:
                    visit(e.target, path)
            path.discard(node)
            seen.add(node)
            ordered.append(node)

        visit(self.root, set())
        for node in self.nodes:
            visit(node, set())
        return list(reversed(ordered))


def blocking_triggers(model: type[models.Model], operation: str) -> list[str]:
    """pgids of the model's django-pgtrigger triggers that would stop a purge's DELETE or UPDATE.

    ``pgtrigger.Protect`` on that operation, and ``pgtrigger.SoftDelete`` (which turns a DELETE
    into an UPDATE). Other triggers (history, denormalisation) keep running.
    """
    import pgtrigger

    pgids: list[str] = []
    for registered_model, trigger in pgtrigger.registered():
        if registered_model._meta.concrete_model is not model._meta.concrete_model:
            continue
        stops = isinstance(trigger, pgtrigger.Protect) and operation in str(trigger.operation)
        if stops or (operation == "DELETE" and isinstance(trigger, pgtrigger.SoftDelete)):
            pgids.append(trigger.get_pgid(registered_model))
    return pgids


def pk_db_type(model: type[models.Model]) -> str:
    """The type a column referencing this model's primary key has (serial -> integer)."""
    pk: Any = model._meta.pk
    return str(pk.rel_db_type(connection))


def field_label(f: Any) -> str:
    return f"{f.model._meta.label}.{f.name}"


class DatabaseDefault:
    """SET_DEFAULT of a field with a db_default and no Python default: the column's DEFAULT."""


def _set_default(f: Any) -> Any:
    """The value SET_DEFAULT writes, without evaluating anything: Django calls a callable default
    at delete time (it may query the database, or give another value each time), so compiling it
    once would freeze one result; refuse it. A db_default is PostgreSQL's to evaluate."""
    if f.has_default():
        if callable(f.default):
            raise UncompilableRelation(
                field_label(f),
                "on_delete=SET_DEFAULT with a callable default is evaluated in Python at delete time; "
                "use a constant default, a db_default, or SET(constant)",
            )
        return f.default
    if f.has_db_default():
        return DatabaseDefault()
    return None  # Django's get_default() for a relation without a default


def _set_value(f: Any, on_delete: Any) -> Any:
    rule = _database_rule(on_delete)
    if rule == "DB_SET_NULL":
        return None
    if rule == "DB_SET_DEFAULT":
        return DatabaseDefault()
    if on_delete is deletion.SET_NULL:
        return None
    if on_delete is deletion.SET_DEFAULT:
        return _set_default(f)
    # SET(value) builds a function whose deconstruct() returns ("django.db.models.SET", (value,), {}).
    deconstruct = getattr(on_delete, "deconstruct", None)
    if deconstruct is None:
        raise UncompilableRelation(field_label(f), "on_delete is a custom function")
    _, args, _ = deconstruct()
    value = args[0]
    if callable(value):
        raise UncompilableRelation(field_label(f), "on_delete=SET(callable) is evaluated in Python")
    if isinstance(value, models.Model):
        value = value.pk
    return value


def _reverse_relations(model: type[models.Model]) -> Iterator[Any]:
    """Reverse FKs and one-to-ones pointing at this concrete model (or its proxies)."""
    for f in model._meta.get_fields(include_parents=False, include_hidden=True):
        if f.auto_created and not getattr(f, "concrete", False) and (f.one_to_one or f.one_to_many):
            yield f


# Django 6.1's database-level rules (DB_CASCADE, DB_SET_NULL, DB_SET_DEFAULT): the foreign key gets
# ON DELETE CASCADE / SET NULL / SET DEFAULT and Django's Collector leaves those rows to the database.
# The purge does in its own statement what the database would do, so that what they remove or change
# is counted, proven and checked against holds and policies like any other cascade; the database's
# action then finds nothing left to do. DB_SET_DEFAULT writes the column's DEFAULT, as the database does.
_DATABASE_ON_DELETE: Any = getattr(deletion, "DatabaseOnDelete", None)


def _database_rule(on_delete: Any) -> str | None:
    """DB_CASCADE, DB_SET_NULL or DB_SET_DEFAULT by name, or None for a Python-level rule."""
    if _DATABASE_ON_DELETE is not None and isinstance(on_delete, _DATABASE_ON_DELETE):
        return str(on_delete)
    return None


def _kind(on_delete: Any) -> EdgeKind | None:
    rule = _database_rule(on_delete)
    if rule is not None:
        return {"DB_CASCADE": EdgeKind.CASCADE, "DB_SET_NULL": EdgeKind.SET, "DB_SET_DEFAULT": EdgeKind.SET}.get(rule)
    if on_delete is deletion.CASCADE:
        return EdgeKind.CASCADE
    if on_delete is deletion.PROTECT:
        return EdgeKind.PROTECT
    if on_delete is deletion.RESTRICT:
        return EdgeKind.RESTRICT
    if on_delete is deletion.DO_NOTHING:
        return EdgeKind.DO_NOTHING
    if on_delete in (deletion.SET_NULL, deletion.SET_DEFAULT) or getattr(on_delete, "deconstruct", None):
        return EdgeKind.SET
    return None


def edges_from(node: Node, nodes: dict[type[models.Model], Node]) -> list[Edge]:
    """Every edge leaving a table: what deleting its rows does to other rows."""

    def node_for(model: type[models.Model]) -> Node:
        concrete: type[models.Model] = model._meta.concrete_model  # type: ignore[assignment]
        if concrete not in nodes:
            nodes[concrete] = Node(concrete)
        return nodes[concrete]

    return [*_foreign_key_edges(node, node_for), *_parent_edges(node, node_for), *_generic_edges(node, node_for)]


def _foreign_key_edges(node: Node, node_for: Callable[[type[models.Model]], Node]) -> list[Edge]:
    """The foreign keys (and one-to-ones) pointing at the table, each with its on_delete."""
    edges: list[Edge] = []
    for rel in _reverse_relations(node.model):
        f: Any = rel.field
        on_delete = f.remote_field.on_delete
        kind = _kind(on_delete)
        label = field_label(f)
        if kind is None:
            raise UncompilableRelation(label, "on_delete is a custom function")
        target = node_for(rel.related_model)
        common: dict[str, Any] = {
            "source": node,
            "target": target,
            "column": f.column,
            "to_column": f.target_field.column,
            "label": label,
            "db_constraint": bool(f.db_constraint),
        }
        if kind is EdgeKind.SET:
            value = _set_value(f, on_delete)
            db_default = isinstance(value, DatabaseDefault)
            if isinstance(value, models.Model):
                value = value.pk
            prepared = None if value is None or db_default else f.get_db_prep_save(value, connection)
            edges.append(
                Edge(
                    kind,
                    set_value=prepared,
                    set_type=str(f.db_type(connection)),
                    set_db_default=db_default,
                    **common,
                )
            )
        else:
            if f.remote_field.parent_link and kind is EdgeKind.CASCADE:
                common["label"] = f"{label} (parent link)"
            edges.append(Edge(kind, **common))
    return edges


def _parent_edges(node: Node, node_for: Callable[[type[models.Model]], Node]) -> list[Edge]:
    """Multi-table inheritance: deleting a child deletes its parent rows, parent.pk IN (child.ptr of
    deleted children), modelled as an edge whose "target" is the parent and whose match runs the
    other way."""
    edges: list[Edge] = []
    for parent, ptr in node.model._meta.parents.items():
        if ptr is None:
            continue
        edges.append(
            Edge(
                EdgeKind.PARENT,
                source=node,
                target=node_for(parent),
                column=ptr.target_field.column,
                to_column=ptr.column,
                label=f"{field_label(ptr)} (parent)",
            )
        )
    return edges


def _generic_edges(node: Node, node_for: Callable[[type[models.Model]], Node]) -> list[Edge]:
    """GenericRelations: the rows whose (content type, object id) name a deleted row go with it."""
    edges: list[Edge] = []
    for private in node.model._meta.private_fields:
        if not isinstance(private, GenericRelation):
            continue
        rel_model: type[models.Model] = private.related_model  # type: ignore[assignment]
        ct_field: Any = rel_model._meta.get_field(private.content_type_field_name)
        oid_field: Any = rel_model._meta.get_field(private.object_id_field_name)
        ct_model: Any = node.model._meta.concrete_model if private.for_concrete_model else node.model
        edges.append(
            Edge(
                EdgeKind.GENERIC,
                source=node,
                target=node_for(rel_model),
                column=oid_field.column,
                to_column=ct_field.column,  # the content type column of the target
                label=field_label(private),
                content_type=(ct_model._meta.app_label, ct_model._meta.model_name),
                object_id_type=str(oid_field.db_type(connection)),
            )
        )
    return edges


def build(model: type[models.Model]) -> Graph:
    """The tables a purge of ``model`` may delete from, and every edge leaving them."""
    concrete: type[models.Model] = model._meta.concrete_model  # type: ignore[assignment]
    nodes: dict[type[models.Model], Node] = {concrete: Node(concrete)}
    graph = Graph(root=nodes[concrete])
    pending = [graph.root]
    reached = {graph.root}
    while pending:
        node = pending.pop(0)
        graph.nodes.append(node)
        for edge in edges_from(node, nodes):
            graph.edges.append(edge)
            if edge.kind in DELETING and edge.target not in reached:
                reached.add(edge.target)
                pending.append(edge.target)
    return graph


def purge_order(policy_models: list[type[models.Model]]) -> list[type[models.Model]]:
    """The order in which a run purges the models with policies. A model whose rows another
    model's purge deletes along (a CASCADE foreign key to it) comes after that model: its eligible
    rows go in the same statement as their parents (the retention check keeps the others), instead
    of being selected, locked and deleted by batches of their own and then probed again by every
    parent. A model that references another in any other way (PROTECT, RESTRICT, SET_*, DO_NOTHING)
    comes before it, so eligible rows never block each other."""
    members = set(policy_models)
    after: dict[type[models.Model], list[type[models.Model]]] = {m: [] for m in policy_models}
    for m in policy_models:
        for f in m._meta.get_fields():
            target = getattr(f, "related_model", None)
            if not (getattr(f, "concrete", False) and getattr(f, "is_relation", False)) or f.many_to_many:
                continue  # a many-to-many's through rows go with either side: no order
            if target not in members or target is m:
                continue
            if getattr(f.remote_field, "on_delete", None) is models.CASCADE:
                after[m].append(target)  # type: ignore[arg-type]
            else:
                after[target].append(m)  # type: ignore[index]
    ordered: list[type[models.Model]] = []
    done: set[type[models.Model]] = set()

    def visit(m: type[models.Model], path: set[type[models.Model]]) -> None:
        # Everything m comes after first; a cycle is cut where the walk meets it again.
        if m in done or m in path:
            return
        path.add(m)
        for other in after[m]:
            visit(other, path)
        path.discard(m)
        done.add(m)
        ordered.append(m)

    for m in policy_models:
        visit(m, set())
    return ordered
