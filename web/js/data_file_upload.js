// HF Text Fine-Tune: an upload button for the dataset node's file list, the way Load Image
// uploads an image. The chosen (or dropped) data file goes to ComfyUI's core /upload/image
// endpoint with type=input, which stores any file in ComfyUI's input folder (never
// overwriting: a different file of the same name gets "name (1).csv"); the node's `file` list
// then shows it selected, and `name` is filled in with it.
//
// The core's own upload widget (image_upload) accepts only images and videos and draws a
// preview, so the pack adds its own button. The button is display only: it is not saved in
// widgets_values nor sent in the prompt (serialize false), and it is added after every other
// widget, so saved workflows keep their widget positions.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const UPLOAD_OPTION = "hf_text_finetune_upload"; // nodes/local_sources.py marks the list with it
const ACCEPT = ".csv,.tsv,.json,.jsonl,.parquet,.txt";
const NO_FILE = "(none: use name)";

async function uploadToInput(file) {
  const body = new FormData();
  body.append("image", file); // the core endpoint's field name; it takes any file
  body.append("type", "input");
  const response = await api.fetchApi("/upload/image", { method: "POST", body });
  if (response.status !== 200) {
    throw new Error(`upload of ${file.name} failed: ${response.status} ${response.statusText}`);
  }
  const data = await response.json();
  return data.subfolder ? `${data.subfolder}/${data.name}` : data.name;
}

function choose(node, listWidget, value) {
  const values = listWidget.options?.values;
  if (Array.isArray(values) && !values.includes(value)) values.push(value);
  listWidget.value = value;
  listWidget.callback?.(value);
  node.setDirtyCanvas(true, true);
}

function keepNameInStep(node, listWidget) {
  // Picking a file fills in `name`; typing another name clears the pick, so both always agree.
  const nameWidget = node.widgets?.find((w) => w.name === "name");
  if (!nameWidget) return;
  const listCallback = listWidget.callback;
  listWidget.callback = function (value) {
    if (value && value !== NO_FILE) nameWidget.value = value;
    return listCallback?.apply(this, arguments);
  };
  const nameCallback = nameWidget.callback;
  nameWidget.callback = function (value) {
    if (listWidget.value !== NO_FILE && value !== listWidget.value) listWidget.value = NO_FILE;
    return nameCallback?.apply(this, arguments);
  };
}

async function uploadAndChoose(node, listWidget, files) {
  for (const file of files) {
    try {
      choose(node, listWidget, await uploadToInput(file));
    } catch (error) {
      console.error(error);
      app.extensionManager?.toast?.add?.({ severity: "error", summary: "Upload failed", detail: String(error), life: 6000 });
    }
  }
}

function addUploadButton(node, listWidget) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = ACCEPT;
  input.style.display = "none";
  input.onchange = () => {
    if (input.files?.length) uploadAndChoose(node, listWidget, Array.from(input.files));
  };
  const button = node.addWidget("button", "upload data file", null, () => input.click(), { serialize: false });
  button.label = "choose data file to upload";
  button.serialize = false;
  button.fileInput = input; // tests hand it a file through the DevTools protocol
  node.onDragOver = (event) => !!event?.dataTransfer?.types?.includes?.("Files");
  node.onDragDrop = (event) => {
    const files = Array.from(event?.dataTransfer?.files ?? []).filter((f) =>
      ACCEPT.split(",").some((suffix) => f.name.toLowerCase().endsWith(suffix)));
    if (!files.length) return false;
    uploadAndChoose(node, listWidget, files);
    return true;
  };
}

app.registerExtension({
  name: "HfTextFineTune.DataFileUpload",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const optional = nodeData?.input?.optional ?? {};
    const listName = Object.keys(optional).find((name) => optional[name]?.[1]?.[UPLOAD_OPTION]);
    if (!listName) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      const listWidget = this.widgets?.find((w) => w.name === listName);
      if (listWidget) {
        keepNameInStep(this, listWidget);
        addUploadButton(this, listWidget);
      }
      return result;
    };
  },
});
