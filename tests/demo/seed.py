"""A realistic, reproducible data set for the demo and the benchmarks of the test project.

Deletion ages are spread over ten years so that every policy has eligible and young rows;
some old properties still have live leases, so PROTECT keeps them.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from leases.models import Lease, LeaseDocument, PaymentSchedule
from maintenance.models import MaintenanceRequest, WorkOrder
from properties.models import Amenity, Property, PropertyImage
from team.models import TeamMember
from users.models import User, UserProfile

SOFT_DELETED_SHARE = 0.4
TEN_YEARS = 3650


def _deletion(rng: random.Random, share: float = SOFT_DELETED_SHARE) -> dict[str, Any]:
    if rng.random() >= share:
        return {"is_deleted": False, "deleted_at": None}
    age = timedelta(days=rng.uniform(0, TEN_YEARS))
    return {"is_deleted": True, "deleted_at": timezone.now() - age}


def _with_parent(rng: random.Random, parent: Any, share: float = SOFT_DELETED_SHARE) -> dict[str, Any]:
    """A child row's state: soft-deleted with its parent, as an app that cascades its soft deletes
    does (99 times in 100; the 100th stays live, which keeps the parent: RETAINED), else its own."""
    if parent.is_deleted:
        if rng.random() < 0.99:
            return {"is_deleted": True, "deleted_at": parent.deleted_at}
        return {"is_deleted": False, "deleted_at": None}
    return _deletion(rng, share)


def _bulk(model: Any, rows: list[Any]) -> list[Any]:
    return model.objects.bulk_create(rows, batch_size=2000)


@transaction.atomic
def seed(users: int = 2000, seed_value: int = 42) -> dict[str, int]:
    """Create about 55 rows per user across the five apps; returns rows created per model."""
    rng = random.Random(seed_value)
    amenities = _bulk(Amenity, [Amenity(name=n) for n in ("pool", "gym", "parking", "garden", "lift")])
    user_rows = _bulk(
        User,
        [User(username=f"user{i}", email=f"user{i}@example.com", **_deletion(rng)) for i in range(users)],
    )
    _bulk(
        UserProfile,
        [UserProfile(user=u, phone=f"+1555{i:07d}", **_with_parent(rng, u)) for i, u in enumerate(user_rows)],
    )
    members = _bulk(
        TeamMember,
        [
            TeamMember(user=u, role=rng.choice(["agent", "technician"]), **_deletion(rng))
            for u in user_rows[: users // 10]
        ],
    )
    properties = _bulk(
        Property,
        [
            Property(
                owner=rng.choice(user_rows),
                manager=rng.choice(user_rows) if rng.random() < 0.7 else None,
                address=f"{i} Retention Street",
                **_deletion(rng),
            )
            for i in range(users * 2)
        ],
    )
    through = Property.amenities.through
    _bulk(
        through,
        [through(property=p, amenity=a) for p in properties for a in rng.sample(amenities, 2)],
    )
    team_through = TeamMember.properties.through
    _bulk(team_through, [team_through(teammember=rng.choice(members), property=p) for p in properties])
    _bulk(
        PropertyImage,
        [
            PropertyImage(property=p, image=f"property-images/{p.pk}-{k}.jpg", **_with_parent(rng, p))
            for p in properties
            for k in range(3)
        ],
    )
    leases: list[Lease] = []
    for p in properties:
        for k in range(2):
            start = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
            leases.append(
                Lease(
                    property=p,
                    tenant=rng.choice(user_rows),
                    start_date=start,
                    end_date=start + timedelta(days=365),
                    monthly_rent=Decimal(rng.randrange(800, 4000)),
                    **_deletion(rng, 0.3 if k else 0.6),
                )
            )
    leases = _bulk(Lease, leases)
    _bulk(
        PaymentSchedule,
        [
            PaymentSchedule(
                lease=lease,
                due_date=lease.start_date + timedelta(days=30 * m),
                amount=lease.monthly_rent,
                **_with_parent(rng, lease),
            )
            for lease in leases
            for m in range(12)
        ],
    )
    _bulk(
        LeaseDocument,
        [
            LeaseDocument(
                lease=lease,
                file=f"lease-documents/{lease.pk}.pdf",
                uploaded_by=lease.tenant,
                **_with_parent(rng, lease),
            )
            for lease in leases
        ],
    )
    requests = _bulk(
        MaintenanceRequest,
        [
            MaintenanceRequest(
                property=p,
                reported_by=rng.choice(user_rows),
                description="Leaking tap",
                **_deletion(rng),
            )
            for p in properties
            for _ in range(2)
        ],
    )
    _bulk(
        WorkOrder,
        [
            WorkOrder(
                request=r,
                assigned_to=rng.choice(members),
                cost=Decimal(rng.randrange(50, 900)),
                **_with_parent(rng, r),
            )
            for r in requests
        ],
    )
    models: list[Any] = [
        User,
        UserProfile,
        TeamMember,
        Property,
        PropertyImage,
        Lease,
        PaymentSchedule,
        LeaseDocument,
        MaintenanceRequest,
        WorkOrder,
    ]
    return {m._meta.label: m.objects.count() for m in models}
