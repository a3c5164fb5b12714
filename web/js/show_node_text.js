// HF Text Fine-Tune: show the text a node returns in its "ui" output (a trainer's per-epoch
// train loss, validation loss and accuracy; an evaluation summary) in a read-only box on the
// node itself, so the numbers are visible where the work happened.
//
// The box is display only: it is excluded from the saved workflow's widgets_values
// (widget.serialize = false) and from the prompt sent to the server
// (widget.options.serialize = false). Saved workflows, the headless runner's converter
// and ComfyUI's cache keys are therefore exactly as without this file.
//
// While a trainer runs, the server sends its metrics so far after every epoch as ComfyUI's
// node progress text (PromptServer.send_progress_text -> the "progress_text" event) or, on a
// ComfyUI without it, as the pack's own event (send_sync(NODE_TEXT_EVENT, {node, text}));
// nodes/comfy_services.py. The same box shows them, so the numbers fill in epoch by epoch
// instead of only at the end; the core's own text preview on the node is removed so the text
// shows once.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const PACK_CATEGORY = "HF Text Fine-Tune";
const WIDGET_NAME = "hf_text_finetune_output";
const LINES_SHOWN = 7; // a 6-epoch summary without scrolling
const NODE_TEXT_EVENT = "hf-text-finetune.node-text";

function textOf(message) {
  const text = message?.text;
  if (text == null) return null;
  return Array.isArray(text) ? text.join("\n") : String(text);
}

function outputWidget(node) {
  let widget = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (widget) return widget;
  widget = ComfyWidgets.STRING(node, WIDGET_NAME, ["STRING", { multiline: true }], app).widget;
  widget.serialize = false;
  widget.options = widget.options ?? {};
  widget.options.serialize = false;
  widget.label = "result";
  // Keep the node's saved width (the core text box asks for 400 px and would overlap the next node).
  widget.options.minNodeSize = [Math.min(node.size[0], 400), 120];
  widget.options.getMinHeight = () => LINES_SHOWN * 14 + 12;
  if (widget.element) {
    widget.element.readOnly = true;
    widget.element.title = "Result of the last run (not saved with the workflow)";
    widget.element.style.fontFamily = "monospace";
    widget.element.style.fontSize = "11px";
  }
  node.setSize([node.size[0], Math.max(node.size[1], node.computeSize()[1])]);
  return widget;
}

const CORE_TEXT_PREVIEW = "$$node-text-preview"; // the widget ComfyUI's progress_text handler adds

function isPackNode(node) {
  return String(node?.constructor?.nodeData?.category ?? node?.category ?? "").startsWith(PACK_CATEGORY);
}

function removeCorePreview(node) {
  const index = node.widgets?.findIndex((w) => w.name === CORE_TEXT_PREVIEW) ?? -1;
  if (index > -1) {
    node.widgets[index].onRemove?.();
    node.widgets.splice(index, 1);
  }
}

function showOnNode(nodeId, text) {
  const node = app.graph?.getNodeById(nodeId) ?? app.graph?.getNodeById(Number(nodeId));
  if (!node || !text) return;
  removeCorePreview(node);
  outputWidget(node).value = text;
  node.setDirtyCanvas(true, true);
}

function showLiveText(event) {
  const detail = event?.detail ?? {};
  showOnNode(detail.node, textOf(detail));
}

function showProgressText(event) {
  const { nodeId, text } = event?.detail ?? {};
  const node = app.graph?.getNodeById(nodeId) ?? app.graph?.getNodeById(Number(nodeId));
  if (!isPackNode(node)) return;
  setTimeout(() => showOnNode(nodeId, text), 0); // after the core's handler added its own preview
}

app.registerExtension({
  name: "HfTextFineTune.ShowNodeText",
  async setup() {
    api.addEventListener(NODE_TEXT_EVENT, showLiveText);
    api.addEventListener("progress_text", showProgressText);
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData?.category ?? "").startsWith(PACK_CATEGORY)) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const result = onExecuted?.apply(this, arguments);
      const text = textOf(message);
      if (text) {
        removeCorePreview(this);
        outputWidget(this).value = text;
        this.setDirtyCanvas(true, true);
      }
      return result;
    };
  },
});
