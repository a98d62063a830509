"""Property: whatever the instances, the task size, the count and the
strategies, placement never books more than an instance has, books exactly
what it placed, never reuses a host port, and honours distinctInstance."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from portside.domain.resources import Capacity, Reservation
from portside.scheduler.placement import DEFAULT_FILTERS, Candidate, Strategy, distinct_instance, place

STRATEGIES = [
    (),
    (Strategy("random"),),
    (Strategy("binpack", "cpu"),),
    (Strategy("binpack", "memory"),),
    (Strategy("spread", "attribute:ecs.availability-zone"), Strategy("spread", "instanceId")),
    (Strategy("spread", "instanceId"), Strategy("binpack", "memory")),
]

instances = st.lists(
    st.tuples(st.integers(0, 4096), st.integers(0, 8192), st.sampled_from("abc"), st.booleans()),
    min_size=0, max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(instances=instances, cpu=st.integers(0, 1024), memory=st.integers(0, 2048),
       port=st.sampled_from([None, 8080]), count=st.integers(1, 10),
       strategies=st.sampled_from(STRATEGIES), distinct=st.booleans(), seed=st.integers(0, 2**32))
def test_placement_never_overbooks(instances, cpu, memory, port, count, strategies, distinct, seed):
    candidates = []
    for i, (icpu, imem, zone, connected) in enumerate(instances):
        doc = {"containerInstanceArn": f"arn:aws:ecs:r:1:container-instance/c/{i}",
               "attributes": [{"name": "ecs.availability-zone", "value": zone}]}
        candidates.append(Candidate(doc, Capacity(icpu, imem, {22}, set()), connected, group="g"))
    before = {c.arn: (c.capacity.cpu, c.capacity.memory) for c in candidates}
    need = Reservation(cpu, memory, [port] if port else [])
    filters = DEFAULT_FILTERS + ((distinct_instance,) if distinct else ())
    placement = place(candidates, need, count, random.Random(seed), filters, strategies)

    assert len(placement.chosen) <= count
    for c in candidates:
        placed = sum(1 for chosen in placement.chosen if chosen is c)
        assert placed == c.placed
        assert c.capacity.cpu >= 0 and c.capacity.memory >= 0
        assert before[c.arn][0] - c.capacity.cpu == placed * cpu
        assert before[c.arn][1] - c.capacity.memory == placed * memory
        if placed:
            assert c.connected
        if port:
            assert placed <= 1  # one host port, one task
        if distinct:
            assert placed <= 1
    if len(placement.chosen) < count and candidates:
        assert placement.rejections  # whatever did not fit says why
