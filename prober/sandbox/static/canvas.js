// The Workflow Canvas (frontend-monolith GET /workflows/{id}): fetches the workflow from
// workflow-service and draws it as SVG; edits, saves, runs and deletes it.
const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 120, NODE_H = 40;
const workflowId = decodeURIComponent(location.pathname.split("/").pop());
// The `blank_canvas` silent fault: the page loads and says ready, but its script draws nothing.
const blank = document.body.dataset.canvasVariant === "blank_canvas";
let workflow = null;

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function draw() {
  const nodesLayer = byTestId("canvas-nodes");
  const edgesLayer = byTestId("canvas-edges");
  nodesLayer.replaceChildren();
  edgesLayer.replaceChildren();
  if (blank) return;
  const at = Object.fromEntries(workflow.nodes.map((n) => [n.id, n]));
  for (const edge of workflow.edges) {
    const a = at[edge.source], b = at[edge.target];
    if (!a || !b) continue;
    edgesLayer.append(svg("line", {
      class: "edge", "data-testid": "canvas-edge", "data-edge-id": edge.id,
      "data-source": edge.source, "data-target": edge.target,
      x1: a.x + NODE_W, y1: a.y + NODE_H / 2, x2: b.x, y2: b.y + NODE_H / 2,
    }));
  }
  for (const node of workflow.nodes) {
    const g = svg("g", { class: "node", "data-testid": "canvas-node", "data-node-id": node.id,
                         "data-node-type": node.type, transform: `translate(${node.x},${node.y})` });
    g.append(svg("rect", { width: NODE_W, height: NODE_H }));
    const label = svg("text", { x: NODE_W / 2, y: NODE_H / 2, "data-testid": "canvas-node-label" });
    label.textContent = node.label;
    g.append(label);
    nodesLayer.append(g);
  }
}

function showCanvasError(e) {
  const status = byTestId("canvas-status");
  status.textContent = "error";
  status.dataset.httpStatus = String(e.status || "");
  const box = byTestId("canvas-error");
  box.textContent = e.message;
  box.hidden = false;
}

function setWorkflow(wf) {
  workflow = wf;
  byTestId("workflow-name").value = wf.name;
  document.title = `${wf.name} · Workflow Canvas`;
  draw();
  const status = byTestId("canvas-status");
  status.dataset.version = String(wf.version);
  status.dataset.nodeCount = blank ? "0" : String(wf.nodes.length);
  status.dataset.edgeCount = blank ? "0" : String(wf.edges.length);
  status.textContent = "ready";
}

async function load() {
  try {
    setWorkflow(await api("GET", "/api/workflows/" + encodeURIComponent(workflowId)));
  } catch (e) {
    showCanvasError(e);
  }
}

byTestId("add-node").addEventListener("click", () => {
  if (!workflow) return;
  const taken = new Set(workflow.nodes.map((n) => n.id));
  let k = workflow.nodes.length + 1;
  while (taken.has("n" + k)) k++;
  const last = workflow.nodes[workflow.nodes.length - 1];
  const node = { id: "n" + k, type: "task", label: "Node " + k,
                 x: last ? last.x + NODE_W + 40 : 20, y: last ? last.y : 20 };
  workflow.nodes.push(node);
  if (last) workflow.edges.push({ id: `${last.id}->${node.id}`, source: last.id, target: node.id });
  draw();
  byTestId("save-status").textContent = "unsaved";
});

byTestId("save-button").addEventListener("click", async () => {
  if (!workflow) return;
  const saveStatus = byTestId("save-status");
  saveStatus.textContent = "saving";
  try {
    const saved = await api("PUT", "/api/workflows/" + encodeURIComponent(workflowId), {
      version: workflow.version, name: byTestId("workflow-name").value,
      nodes: workflow.nodes, edges: workflow.edges,
    });
    setWorkflow(saved);
    saveStatus.textContent = "saved";
  } catch (e) {
    saveStatus.textContent = e.status === 409 ? "conflict" : "error";
    saveStatus.title = e.message;
  }
});

byTestId("delete-button").addEventListener("click", async () => {
  try {
    await api("DELETE", "/api/workflows/" + encodeURIComponent(workflowId));
    location.assign("/");
  } catch (e) {
    showCanvasError(e);
  }
});

const TERMINAL = new Set(["succeeded", "failed"]);

byTestId("run-button").addEventListener("click", async () => {
  const runStatus = byTestId("run-status");
  const runError = byTestId("run-error");
  const runOutput = byTestId("run-output");
  runError.hidden = true;
  runOutput.hidden = true;
  runStatus.textContent = "starting";
  try {
    const started = await api("POST", `/api/workflows/${encodeURIComponent(workflowId)}/runs`, {});
    runStatus.dataset.runId = started.run_id;
    runStatus.textContent = started.status;
    let run = started;
    while (!TERMINAL.has(run.status)) {
      await new Promise((r) => setTimeout(r, 200));
      run = await api("GET", "/api/runs/" + encodeURIComponent(started.run_id));
      runStatus.textContent = run.status;
    }
    if (run.error) {
      runError.textContent = `${run.error.service}: ${run.error.message}`;
      runError.dataset.service = run.error.service;
      runError.hidden = false;
    }
    runOutput.textContent = JSON.stringify(run.output, null, 2);
    runOutput.hidden = false;
  } catch (e) {
    runStatus.textContent = "error";
    runError.textContent = e.message;
    runError.hidden = false;
  }
});

if (requireLogin()) load();
