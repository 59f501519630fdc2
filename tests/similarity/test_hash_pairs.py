"""The band plan and the hash grouping SQL on planted data: exact pairs, exact groups."""

from __future__ import annotations

import itertools
import random

import pytest

from apps.core.jobs import JobStatus
from apps.similarity.hash_bands import band_masks
from apps.similarity.models import DuplicateMember, DuplicateScan, FrameHash
from apps.similarity.services_duplicates import duplicate_scan_run, hash_pairs
from apps.storage.phashes import phash_distance
from apps.storage.services.folders import folder_create
from tests.similarity.helpers import flip, hashed_items, random_hash


@pytest.fixture
def admin(org, make_user):
    return make_user(org, role="admin", email="dup-admin@example.com")


@pytest.fixture
def folder(admin, org):
    return folder_create(user=admin, name="pictures", organisation=org)


@pytest.mark.parametrize("hashes", [10, 5_000, 1_000_000])
@pytest.mark.parametrize("threshold", [0, 1, 3, 6, 8, 10, 12, 16])
def test_every_pair_within_the_threshold_shares_a_band(hashes, threshold):
    # Pairs at exactly the threshold, differing in the worst places: spread over every segment.
    masks = [mask & ((1 << 64) - 1) for mask in band_masks(hashes=hashes, threshold=threshold)]
    rng = random.Random(threshold * 7 + hashes)
    for _ in range(300):
        a = rng.getrandbits(64)
        b = a
        for bit in rng.sample(range(64), threshold):
            b ^= 1 << bit
        assert any((a & mask) == (b & mask) for mask in masks)


def test_hash_pairs_finds_exactly_the_pairs_within_the_threshold(org, folder):
    rng = random.Random(11)
    bases = [random_hash(rng) for _ in range(60)]
    hashes = list(bases)
    for n, base in enumerate(bases[:20]):  # a copy 0..8 bits away from 20 of them
        hashes.append(flip(base, rng.sample(range(64), n % 9)))
    items = hashed_items(org, folder, hashes)
    _, pairs = hash_pairs(organisation_id=org.pk, threshold=6)
    expected = {}
    for x, y in itertools.combinations(items, 2):
        distance = phash_distance(x.phash, y.phash)
        if distance <= 6:
            expected[tuple(sorted((x.pk, y.pk)))] = float(distance)
    assert pairs == expected
    assert len(expected) >= 14  # the planted copies at 0..6 bits (random pairs this close: none here)


def test_a_scan_stores_the_connected_groups(org, folder):
    rng = random.Random(5)
    a, b, c = (random_hash(rng) for _ in range(3))
    # a chain a - a1 - a2 (a2 is 8 bits from a but 4 from a1: one group), b with an exact copy, c alone,
    # and two blank pictures (flat hashes), which never group.
    a1 = flip(a, [0, 1, 2, 3])
    a2 = flip(a1, [10, 11, 12, 13])
    items = hashed_items(org, folder, [a, a1, a2, b, b, c, 0, 0, -1])
    scan = DuplicateScan.objects.create(organisation=org, method="hash", threshold=6, total=1)
    scan = duplicate_scan_run(scan_id=scan.pk)
    assert (scan.status, scan.group_count, scan.item_count, scan.pairs, scan.hashes) == (JobStatus.DONE, 2, 5, 3, 6)
    groups = {}
    for member in DuplicateMember.objects.filter(group__scan=scan):
        groups.setdefault(member.group_id, {})[member.item_id] = member.distance
    assert sorted(groups.values(), key=len) == [
        {items[3].pk: 0.0, items[4].pk: 0.0},
        {items[0].pk: 4.0, items[1].pk: 4.0, items[2].pk: 4.0},
    ]
    # Idempotent: a second run of the same scan finds it done and changes nothing.
    assert duplicate_scan_run(scan_id=scan.pk).group_count == 2
    assert DuplicateMember.objects.filter(group__scan=scan).count() == 5


def test_video_frame_hashes_join_items_and_a_newer_scan_replaces_the_groups(org, folder):
    rng = random.Random(9)
    picture, other = random_hash(rng), random_hash(rng)
    image, video = hashed_items(org, folder, [picture, other])
    FrameHash.objects.create(item=video, frame=12, phash=flip(picture, [5]))
    first = DuplicateScan.objects.create(organisation=org, method="hash", threshold=0, total=1)
    duplicate_scan_run(scan_id=first.pk)
    assert DuplicateMember.objects.count() == 0
    second = DuplicateScan.objects.create(organisation=org, method="hash", threshold=2, total=1)
    duplicate_scan_run(scan_id=second.pk)
    assert set(DuplicateMember.objects.values_list("item_id", "distance")) == {(image.pk, 1.0), (video.pk, 1.0)}
    # Re-running the older scan does not bring its (empty) result back over the newer one.
    DuplicateScan.objects.filter(pk=first.pk).update(status=JobStatus.PENDING)
    duplicate_scan_run(scan_id=first.pk)
    assert DuplicateMember.objects.filter(group__scan=second).count() == 2


@pytest.mark.django_db(transaction=True)
def test_bands_shared_among_connections_find_the_same_pairs(org, folder):
    rng = random.Random(21)
    bases = [random_hash(rng) for _ in range(40)]
    hashed_items(org, folder, bases + [flip(base, rng.sample(range(64), n % 7)) for n, base in enumerate(bases)])
    one = hash_pairs(organisation_id=org.pk, threshold=6, connections=1)
    two = hash_pairs(organisation_id=org.pk, threshold=6, connections=2)
    assert one == two
    assert len(one[1]) >= 40


def test_thresholds_read_from_forms_and_bodies():
    from apps.core.errors import ServiceValidationError
    from apps.similarity.services_duplicates import duplicate_threshold

    assert [duplicate_threshold(method="hash", value=v) for v in (None, "", "6", 6, 6.0, "6.0", 0, "10")] == \
        [6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 0.0, 10.0]
    assert duplicate_threshold(method="embedding", value="0.1") == 0.1
    for method, value in [("hash", "6.5"), ("hash", "11"), ("hash", "-1"), ("hash", "nan"), ("hash", "inf"),
                          ("hash", "six"), ("embedding", "0"), ("embedding", "nan"), ("embedding", "1.5")]:
        with pytest.raises(ServiceValidationError) as refused:
            duplicate_threshold(method=method, value=value)
        assert list(refused.value.message_dict) == ["threshold"]
