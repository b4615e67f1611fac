/* The live stream (GET /api/stream, Server-Sent Events): one EventSource that reconnects by itself,
   and the rule every page keeps when a state arrives: one older than the state shown is ignored.

   const stream = connect({cell, anomaly, case, resync, status});
     status(state): "connecting", "live", "reconnecting" or "offline"
     resync(): the stream came back after a break: events sent meanwhile are gone, reload the states
   stream.source is the current EventSource. */

const EVENTS = ["cell", "anomaly", "case"];
const RETRY_MS = 5000; // after the browser gives up on a refused stream

export function connect(handlers, url = "/api/stream") {
  const stream = { source: null, hellos: 0 };
  const status = (state) => handlers.status && handlers.status(state);
  function open() {
    const source = (stream.source = new EventSource(url));
    source.addEventListener("hello", () => {
      stream.hellos += 1;
      status("live");
      if (stream.hellos > 1 && handlers.resync) handlers.resync();
    });
    for (const name of EVENTS) {
      if (handlers[name]) source.addEventListener(name, (e) => handlers[name](JSON.parse(e.data)));
    }
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        status("offline");
        setTimeout(open, RETRY_MS);
      } else status("reconnecting");
    };
  }
  status("connecting");
  open();
  return stream;
}

/* Whether a cell `state` (from the stream or a reloaded snapshot) is older than the one `shown`: a
   snapshot taken before a live event may arrive after it, and a cell that never reported is older
   than any report. */
export function isStale(state, shown) {
  if (!shown || !shown.updated_at) return false;
  return !state.updated_at || Date.parse(state.updated_at) < Date.parse(shown.updated_at);
}
