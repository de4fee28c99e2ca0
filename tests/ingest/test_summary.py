"""A stored push's answer is written out by hand (``service.summary_json``); it must say exactly
what the published contract, :class:`ImportSummary`, says."""

import orjson
from hypothesis import given
from hypothesis import strategies as st

from ioc_hub.ingest.repository import WriteCounts
from ioc_hub.ingest.schemas import ImportSummary, RowError
from ioc_hub.ingest.service import summary_json

counts = st.integers(min_value=0, max_value=10_000)
errors = st.lists(
    st.builds(RowError, index=st.integers(min_value=0, max_value=10_000), reason=st.text()),
    max_size=5,
)


@given(counts, counts, counts, counts, errors)
def test_summary_json_is_the_import_summary(
    created: int, updated: int, unchanged: int, superseded: int, errors: list[RowError]
) -> None:
    written = summary_json(WriteCounts(created, updated, unchanged), superseded, errors)
    model = ImportSummary(
        created=created,
        updated=updated,
        unchanged=unchanged,
        superseded=superseded,
        rejected=len(errors),
        errors=errors,
    )
    # The same fields, values and order; and the model reads it back as itself.
    assert list(orjson.loads(written).items()) == list(
        orjson.loads(model.model_dump_json()).items()
    )
    assert ImportSummary.model_validate_json(written) == model
