"""The deletion graph, read from Django's model meta the way its Collector reads it: no database.

The differential tests prove the SQL deletes what Django deletes; these pin what graph.py reads
from the rules models, so a change in it shows up here before it shows up as a wrong purge.
"""

from __future__ import annotations

from django.db import models as django_models

from django_pg_retention.graph import EdgeKind, build, purge_order
from django_pg_retention.policies import get_model, soft_delete_models


def edges(path: str) -> set[tuple[str, str, str, str]]:
    return {(e.kind.value, e.source.table, e.target.table, e.column) for e in build(get_model(path)).edges}


def test_set_protect_and_a_generic_relation_are_edges_but_only_deleted_tables_are_nodes() -> None:
    graph = build(get_model("rules.Publisher"))
    assert [n.table for n in graph.nodes] == ["rules_publisher", "rules_flag"]
    assert edges("rules.Publisher") == {
        ("SET", "rules_publisher", "rules_book", "publisher_id"),
        ("SET", "rules_publisher", "rules_shipment", "publisher_id"),  # the partitioned table
        ("PROTECT", "rules_publisher", "rules_contract", "publisher_id"),
        ("GENERIC", "rules_publisher", "rules_flag", "object_id"),
    }
    protect = next(e for e in graph.edges if e.kind is EdgeKind.PROTECT)
    assert protect.blocked_reason == "PROTECT rules.Contract.publisher"  # how the audit names it


def test_multi_table_inheritance_cascades_to_the_child_and_the_child_takes_its_parent_row() -> None:
    assert [n.table for n in build(get_model("rules.Place")).nodes] == ["rules_place", "rules_restaurant", "rules_menu"]
    assert edges("rules.Place") == {
        ("CASCADE", "rules_place", "rules_restaurant", "place_ptr_id"),
        ("CASCADE", "rules_restaurant", "rules_menu", "restaurant_id"),
        ("PARENT", "rules_restaurant", "rules_place", "id"),
    }


def test_a_cascade_chain_reaches_every_level_and_set_default_and_set_are_both_set_edges() -> None:
    assert [n.table for n in build(get_model("rules.Owner")).nodes] == [
        "rules_owner",
        "rules_link",
        "rules_shelf",
        "rules_slot",
    ]
    assert edges("rules.Language") == {
        ("SET", "rules_language", "rules_book", "language_id"),  # SET_DEFAULT
        ("SET", "rules_language", "rules_book", "fallback_language_id"),  # SET("en")
    }


def test_purge_order_puts_a_cascade_parent_first_and_any_other_referencing_model_first() -> None:
    models = soft_delete_models()
    order = [m._meta.label for m in purge_order(models)]
    assert sorted(order) == sorted(m._meta.label for m in models)
    for first, then in (
        ("rules.Shelf", "rules.Slot"),  # Slot.shelf CASCADE: a Shelf's batches take its eligible slots
        ("rules.Owner", "rules.Shelf"),  # Shelf.owner CASCADE
        ("users.User", "users.UserProfile"),  # UserProfile.user one-to-one CASCADE
        ("rules.Memo", "rules.Archive"),  # Memo.archive SET_NULL: the memos go before they are updated
        ("leases.Lease", "properties.Property"),  # Lease.property PROTECT: no eligible lease blocks
    ):
        assert order.index(first) < order.index(then), (first, then)
    # The rule holds for every foreign key between two models with policies (none of them in a cycle).
    labels = {m._meta.label for m in models}
    pairs = 0
    for model in models:
        for f in model._meta.concrete_fields:
            target = f.related_model
            if not f.is_relation or target is model or target is None or target._meta.label not in labels:
                continue
            cascade = f.remote_field.on_delete is django_models.CASCADE
            first, then = (target, model) if cascade else (model, target)
            assert order.index(first._meta.label) < order.index(then._meta.label), (f, cascade)
            pairs += 1
    assert pairs >= 5
