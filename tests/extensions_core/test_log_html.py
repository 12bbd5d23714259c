"""A run's log as HTML: every value escaped, one span per line, whatever the log holds."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from extensions_core.admin.runs import log_html

SPAN = re.compile(r'<span class="cr-level-([^"<>]*)">([^<>]*)</span>\n')
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
line = st.one_of(
    st.tuples(text, text, text).map(list),
    st.lists(text, max_size=4),  # too short or too long
    text,  # a bare string
    st.lists(st.one_of(st.none(), st.integers(), st.booleans()), min_size=3, max_size=3),  # not strings
)


def expected(line) -> tuple[str, str]:
    at, level, message = (*line, "", "", "")[:3] if isinstance(line, list) else ("", "", line)
    at, level, message = (
        str(value).translate({1: "\ufffd", 2: "\ufffd", 3: "\ufffd"}) for value in (at, level, message)
    )
    return level, f"{at}  {level:<8} {message}"


@given(st.lists(line, max_size=20))
def test_every_line_is_one_span_with_its_values_escaped(lines):
    rendered = log_html(lines)

    spans = SPAN.findall(rendered)
    assert "".join(f'<span class="cr-level-{cls}">{body}</span>\n' for cls, body in spans) == rendered
    assert [(html.unescape(cls), html.unescape(body)) for cls, body in spans] == [expected(line) for line in lines]


def test_markup_in_a_message_is_shown_not_run():
    rendered = log_html([["2026-12-01T10:00:00", "ERROR", '<script>alert("x")</script> & more']])

    assert "<script>" not in rendered
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in rendered
    assert rendered.startswith('<span class="cr-level-ERROR">2026-12-01T10:00:00  ERROR    ')
