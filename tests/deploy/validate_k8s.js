// Schema check of rendered Kubernetes objects with the npm package
// kubernetes-models: every object must be of a kind the package knows, pass its
// model's validate() (types, required fields, formats), and carry no field the
// schema does not define. kubernetes-models' schemas allow unknown fields, so a
// misspelt field (terminationGracePeriodSecond) would pass validate(); the
// second pass runs the same validate() over a Proxy that records every property
// the validator reads, and reports the properties it never read.
//
// Usage: node validate_k8s.js TOOLS_NODE_MODULES OBJECTS.json
// OBJECTS.json: a JSON array of objects. Prints one line per problem; exit 1 if any.
"use strict";

const fs = require("fs");
const path = require("path");

function modelFor(modulesDir, apiVersion, kind) {
  // "v1" -> kubernetes-models/v1/Kind; "apps/v1" -> kubernetes-models/apps/v1/Kind.
  const file = path.join(modulesDir, "kubernetes-models", apiVersion, `${kind}.js`);
  if (!/^[a-z0-9.]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind) ||
      !fs.existsSync(file)) {
    return null;
  }
  return require(file)[kind];
}

// Wraps `value` so that every own property the validator reads is added to `seen`
// (as a JSON pointer).
function traced(value, pointer, seen) {
  if (value === null || typeof value !== "object") return value;
  return new Proxy(value, {
    get(target, prop, receiver) {
      if (typeof prop === "string" && Object.prototype.hasOwnProperty.call(target, prop)) {
        const child = `${pointer}/${prop}`;
        seen.add(child);
        return traced(target[prop], child, seen);
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

// The topmost properties of `value` the validator never read.
function unread(value, pointer, seen, out) {
  if (value === null || typeof value !== "object") return;
  for (const key of Object.keys(value)) {
    const child = `${pointer}/${key}`;
    if (!seen.has(child)) {
      out.push(child);
    } else {
      unread(value[key], child, seen, out);
    }
  }
}

function describe(object) {
  const meta = object && object.metadata ? object.metadata : {};
  return `${object.kind}/${meta.name}`;
}

function main() {
  const [modulesDir, objectsFile] = process.argv.slice(2);
  if (!modulesDir || !objectsFile) {
    console.error("usage: node validate_k8s.js TOOLS_NODE_MODULES OBJECTS.json");
    process.exit(2);
  }
  if (!fs.existsSync(path.join(modulesDir, "kubernetes-models"))) {
    console.error(`validate_k8s: ${modulesDir}/kubernetes-models is missing; ` +
                  "run scripts/bootstrap.sh (npm install in tools/)");
    process.exit(2);
  }
  const objects = JSON.parse(fs.readFileSync(objectsFile, "utf8"));
  const problems = [];
  for (const object of objects) {
    const Model = modelFor(modulesDir, object.apiVersion, object.kind);
    if (!Model) {
      problems.push(`${describe(object)}: no kubernetes-models model for ` +
                    `${object.apiVersion} ${object.kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (err) {
      problems.push(`${describe(object)}: ${err.message}`);
      continue;
    }
    const seen = new Set();
    Model.prototype.validate.call(traced(object, "", seen));
    const unknown = [];
    unread(object, "", seen, unknown);
    for (const pointer of unknown) {
      problems.push(`${describe(object)}: unknown field ${pointer}`);
    }
  }
  for (const p of problems) console.log(p);
  console.log(`validate_k8s: ${objects.length} objects, ${problems.length} problems`);
  process.exit(problems.length === 0 ? 0 : 1);
}

main();
