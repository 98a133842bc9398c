"""radguide chat UI (Streamlit). Thin: every decision is made in assistant/."""
from __future__ import annotations

import os

import streamlit as st

from assistant.backends import offline_guard
from assistant.errors import RadguideError
from assistant.settings import load_settings

offline_guard()
st.set_page_config(page_title="radguide", page_icon="🩻", layout="wide")


@st.cache_resource(show_spinner="Loading the library and the model…")
def get_engine(home: str | None, config: str | None):
    from assistant.engine import Engine

    return Engine(load_settings(home=home, config=config))


def render_response(r: dict) -> None:
    if r["refused"]:
        st.warning(r["answer"])
        return
    v = r.get("variant")
    if v:
        st.markdown(f"**{v['title']}** — {v['version']}  \n**Variant {v['number']}:** {v['scenario']}")
        rows = [{"Appropriateness": rec["category"] + (f" ({rec['rating']})" if rec.get("rating") else ""),
                 "Procedure": rec["procedure"], "Radiation": rec["rrl"] or "-", "Cite": f"[{rec['citation']}]"}
                for rec in r["recommendations"]]
        st.dataframe(rows, hide_index=True, use_container_width=True)
    st.markdown(r["answer"])
    for c in r["citations"]:
        mark = "✅ verified" if c["verified"] else "⚠️ not verified"
        with st.expander(f"[{c['key']}] {c['title']} ({c['version']}), p. {c['page']} — {mark}"):
            st.markdown(f"> {c['quote']}")
            st.caption(f"{c['source']} · {c['section']} · {c['version_id']}")
    t = r["timings_ms"]
    st.caption(f"model {r['model']} · retrieval {t['retrieval']:.0f} ms · total {t['total'] / 1000:.1f} s"
               + (f" · audit #{r['audit_id']}" if r.get("audit_id") else ""))


def main() -> None:
    st.title("radguide")
    st.caption("Answers from the loaded guidelines only. Illustrative sample library — not clinical guidance.")
    try:
        engine = get_engine(os.environ.get("RADGUIDE_HOME"), os.environ.get("RADGUIDE_CONFIG"))
    except RadguideError as exc:
        st.error(str(exc))
        return
    docs = engine.library.db.versions()
    st.sidebar.header("Library")
    st.sidebar.write(f"{len(docs)} documents (current versions)")
    for d in docs:
        st.sidebar.caption(f"{d['title']} — {d['version']}")

    history = st.session_state.setdefault("history", [])
    for item in history:
        with st.chat_message("user"):
            st.markdown(item["question"])
        with st.chat_message("assistant"):
            render_response(item)

    question = st.chat_input("Ask a clinical imaging question")
    if not question:
        return
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        live = st.empty()
        streamed: list[str] = []

        def on_token(delta: str) -> None:
            streamed.append(delta)
            live.markdown("".join(streamed) + "▌")

        try:
            r = engine.ask(question, on_token=on_token)
        except RadguideError as exc:
            live.empty()
            st.error(str(exc))
            return
        live.empty()
        render_response(r)
    history.append(r)


main()
