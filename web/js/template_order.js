// HF Text Fine-Tune: the pack's templates in the template browser, the seed workflow first.
//
// ComfyUI 0.3.64 lists a custom node pack's templates (GET /workflow_templates) in the order its
// server's glob found the files, i.e. in no particular order, and names each card by its file
// name. This puts the guide's seed workflow first and the rest in alphabetical order for this
// pack only; other packs' lists are untouched.
import { api } from "../../scripts/api.js";

const SEED_TEMPLATE = "distilbert_classification"; // examples/workflows/distilbert_classification.json
// The folder this pack is installed in (its name is the key of its templates): /extensions/<folder>/...
const PACK_FOLDER = decodeURIComponent(new URL(import.meta.url).pathname.split("/extensions/")[1]?.split("/")[0] ?? "");

export function orderTemplates(names) {
  return [...names].sort((a, b) => (b === SEED_TEMPLATE) - (a === SEED_TEMPLATE) || a.localeCompare(b));
}

const listTemplates = api.getWorkflowTemplates?.bind(api);
if (listTemplates && PACK_FOLDER) {
  api.getWorkflowTemplates = async () => {
    const byPack = await listTemplates();
    if (Array.isArray(byPack?.[PACK_FOLDER])) byPack[PACK_FOLDER] = orderTemplates(byPack[PACK_FOLDER]);
    return byPack;
  };
}
