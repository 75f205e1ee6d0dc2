// The cluster's evaluation workers (evolve worker): host, slots, busy, evaluations done, last
// heartbeat, tags, version, what the machine can run. On a SQLite database there is no cluster.
import { el, every, failure, fmt, get, loading, put, table, view } from "./lib.js";

const ago = (now, ms) => {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 60 ? s + " s ago" : Math.round(s / 60) + " min ago";
};

export function workersPage() {
  const box = el("div", { class: "card" }, [loading("workers")]);
  const summary = el("p", { class: "muted", id: "workers-summary" });
  view().replaceChildren(el("h1", { text: "Workers" }), summary, box);
  let last = null;

  function render(data) {
    if (!data.cluster) {
      summary.textContent = "";
      return put(box, el("p", { id: "no-cluster", text: "No cluster: this server's database is a SQLite file, so its runs evaluate candidates in its own process. " +
        "Give evolve serve and evolve worker a PostgreSQL database (--db postgres://…) to evaluate on other machines." }));
    }
    const slots = data.workers.reduce((n, w) => n + w.slots, 0);
    const busy = data.workers.reduce((n, w) => n + w.busy, 0);
    summary.textContent = data.workers.length + " worker" + (data.workers.length === 1 ? "" : "s") + " alive: " + busy + " of " + slots + " slots busy.";
    put(box, table([
      { label: "Worker", cls: "mono", cell: (w) => w.id },
      { label: "Host", cell: (w) => w.host },
      { label: "Slots", num: true, cell: (w) => fmt(w.slots) },
      { label: "Busy", num: true, cell: (w) => fmt(w.busy) },
      { label: "Evaluations", num: true, cell: (w) => fmt(w.done) },
      { label: "Last heartbeat", cell: (w) => el("span", { title: new Date(w.heartbeatAt).toLocaleString(), text: ago(data.now, w.heartbeatAt) }) },
      { label: "Tags", cell: (w) => (w.tags.length > 0 ? w.tags.join(", ") : "—") },
      { label: "Can run", cls: "mono", cell: (w) => w.capabilities.join(", ") },
      { label: "Version", cls: "mono", cell: (w) => w.version }
    ], data.workers, {
      id: "workers-table",
      rowAttrs: (w) => ({ class: "worker-row", "data-id": w.id }),
      empty: "No worker alive: runs wait for one. Start one with: evolve worker --db postgres://… --slots K"
    }));
  }

  async function refresh() {
    try {
      const data = await get("/api/workers");
      last = data;
      render(data);
    } catch (e) {
      if (!last) box.replaceChildren(failure(e, refresh));
    }
  }
  refresh();
  every(5000, refresh);
}
