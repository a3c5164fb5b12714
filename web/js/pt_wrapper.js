// HF Text Fine-Tune: workflows written by ComfyUI-Pt-Wrapper open converted, never scrambled;
// and the server's warning about another pack registering this pack's node ids reaches the browser.
//
// Pt-Wrapper shares eight node ids with this pack but saved their widget values in its own
// order: opened as they are, values land on other widgets (trust_remote_code true, max_length
// 1, ...). Before the frontend applies any widget (beforeConfigureGraph, awaited by
// app.loadGraphData before node types are checked), a workflow holding one of Pt-Wrapper's
// node types goes to the server, which answers with the SAME converter as
// `run_workflow.py --convert-pt-wrapper` (runner/pt_wrapper.py; runner/pt_wrapper_browser.py
// decides). The reply replaces the workflow in place: converted, with the converter's notes in
// a note node and a toast; or, when it cannot be converted, with the shifted values removed
// (those nodes open with their defaults, trust_remote_code off) and a toast saying why and
// how to convert. If the server cannot be asked, the shifted nodes' values are dropped here.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const TYPES_ROUTE = "/hf_text_finetune/pt_wrapper/types";
const CONVERT_ROUTE = "/hf_text_finetune/pt_wrapper/convert";
const CLASHES_ROUTE = "/hf_text_finetune/clashes";
const CLASH_SHOWN_KEY = "hf-text-finetune.clash-toast-shown";
const TITLE = "HF Text Fine-Tune";

let theirTypes = null; // node types a Pt-Wrapper workflow may hold (from the server, one list)

function toast(severity, summary, detail, life) {
  const store = app.extensionManager?.toast;
  if (store?.add) {
    store.add({ severity, summary, detail, ...(life ? { life } : {}) });
  } else {
    console.warn(`${summary}: ${detail}`);
  }
}

async function getJson(route, options) {
  const response = await api.fetchApi(route, options);
  if (!response.ok) throw new Error(`${route}: HTTP ${response.status}`);
  return response.json();
}

async function knownTypes() {
  if (theirTypes === null) {
    try {
      theirTypes = new Set((await getJson(TYPES_ROUTE)).types ?? []);
    } catch (error) {
      console.warn(`${TITLE}: cannot ask the server for Pt-Wrapper's node types`, error);
      return new Set();
    }
  }
  return theirTypes;
}

function replaceInPlace(target, source) {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, source);
}

function dropValuesOfSharedNodes(graphData, types) {
  // No answer from the server: never apply values that may be shifted (trust_remote_code!).
  for (const node of graphData.nodes ?? []) {
    if (types.has(node.type) && node.type in LiteGraph.registered_node_types) delete node.widgets_values;
  }
}

function reportConversion(reply) {
  if (reply.converted) {
    const notes = reply.notes ?? [];
    toast("info", `${TITLE}: converted a ComfyUI-Pt-Wrapper workflow`,
      `Its nodes now use this pack's inputs (the same conversion as run_workflow.py --convert-pt-wrapper).` +
      (notes.length ? ` ${notes.length} note(s) in the node "Converted from Pt-Wrapper": check them before you run it.` : ""),
      15000);
  } else {
    const cleared = reply.cleared?.length ? ` Values not applied (defaults kept) on: ${reply.cleared.join(", ")}.` : "";
    toast("error", `${TITLE}: this ComfyUI-Pt-Wrapper workflow cannot be converted`,
      `${reply.error}${cleared} Convert it on the command line: ${reply.command}`);
  }
}

async function convertIfPtWrapper(graphData) {
  const nodes = graphData?.nodes;
  if (!Array.isArray(nodes)) return;
  const types = await knownTypes();
  if (!nodes.some((n) => types.has(n.type))) return;
  let reply;
  try {
    reply = await getJson(CONVERT_ROUTE, { method: "POST", body: JSON.stringify({ workflow: graphData }) });
  } catch (error) {
    console.warn(`${TITLE}: the Pt-Wrapper check failed`, error);
    if (graphData.extra?.node_versions?.["pt-wrapper"]) {
      dropValuesOfSharedNodes(graphData, types);
      toast("error", `${TITLE}: a ComfyUI-Pt-Wrapper workflow`,
        "The server could not convert it, so its values were not applied. Convert it with: " +
        "python run_workflow.py --convert-pt-wrapper THEIR_WORKFLOW.json CONVERTED.json");
    }
    return;
  }
  if (!reply?.pt_wrapper) return;
  replaceInPlace(graphData, reply.workflow);
  reportConversion(reply);
}

async function showClashWarning() {
  if (sessionStorage.getItem(CLASH_SHOWN_KEY)) return;
  let reply;
  try {
    reply = await getJson(CLASHES_ROUTE);
  } catch (error) {
    return; // an older server of this pack: the warning stays in the server log
  }
  const clashes = reply?.clashes ?? [];
  if (!clashes.length) return;
  sessionStorage.setItem(CLASH_SHOWN_KEY, "1");
  for (const clash of clashes) {
    toast("warn", `${TITLE}: '${clash.pack}' registers ${clash.count} of the same node ids`, clash.message);
  }
}

app.registerExtension({
  name: "HfTextFineTune.PtWrapperWorkflows",
  async setup() {
    await showClashWarning();
  },
  async beforeConfigureGraph(graphData) {
    await convertIfPtWrapper(graphData);
  },
});
