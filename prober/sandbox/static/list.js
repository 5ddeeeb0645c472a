// The workflow list (frontend-monolith GET /): every workflow as a link to its canvas.
async function loadList() {
  const status = byTestId("list-status");
  const error = byTestId("list-error");
  const list = byTestId("workflow-list");
  try {
    const answer = await api("GET", "/api/workflows");
    list.replaceChildren(...answer.workflows.map((wf) => {
      const item = document.createElement("li");
      item.dataset.testid = "workflow-item";
      item.dataset.workflowId = wf.id;
      const link = document.createElement("a");
      link.href = "/workflows/" + encodeURIComponent(wf.id);
      link.textContent = wf.name;
      link.dataset.testid = "workflow-link";
      item.append(link, ` · ${wf.node_count} nodes · v${wf.version}`);
      return item;
    }));
    status.textContent = "ready";
    status.dataset.count = String(answer.workflows.length);
  } catch (e) {
    status.textContent = "error";
    error.textContent = e.message;
    error.hidden = false;
  }
}

byTestId("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = byTestId("list-error");
  try {
    const wf = await api("POST", "/api/workflows", { name: byTestId("new-workflow-name").value });
    location.assign("/workflows/" + encodeURIComponent(wf.id));
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
});

if (requireLogin()) loadList();
