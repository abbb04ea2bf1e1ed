// The API reference at /docs, drawn from /openapi.json with no script from elsewhere, so it works
// offline (FastAPI's default Swagger UI loads its code from a CDN).
"use strict";

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;  // textContent: nothing from the schema is parsed as HTML
  if (className) node.className = className;
  return node;
}

function resolve(schema, spec) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return (spec.components && spec.components.schemas && spec.components.schemas[name]) || {};
  }
  return schema || {};
}

function typeOf(schema, spec) {
  const resolved = resolve(schema, spec);
  if (resolved.anyOf) return resolved.anyOf.map((part) => typeOf(part, spec)).join(" | ");
  if (resolved.type === "array") return `array of ${typeOf(resolved.items, spec)}`;
  if (resolved.enum) return resolved.enum.map(String).join(" | ");
  return resolved.type || resolved.title || (schema && schema.$ref ? schema.$ref.split("/").pop() : "any");
}

function parameterTable(rows) {
  const table = element("table", undefined, "api-params");
  const head = table.createTHead().insertRow();
  for (const title of ["name", "in", "type", "required", "description"]) head.appendChild(element("th", title));
  const body = table.createTBody();
  for (const cells of rows) {
    const row = body.insertRow();
    cells.forEach((cell, index) => row.appendChild(element("td", cell, index === 0 ? "api-name" : undefined)));
  }
  return table;
}

function operationSection(path, method, operation, spec) {
  const section = element("section", undefined, "api-operation");
  const title = element("h3");
  title.appendChild(element("span", method.toUpperCase(), "api-method"));
  title.appendChild(element("code", ` ${path}`));
  section.appendChild(title);
  if (operation.summary) section.appendChild(element("p", operation.summary));
  if (operation.description && operation.description !== operation.summary) {
    section.appendChild(element("p", operation.description, "chip-hint"));
  }
  const rows = (operation.parameters || []).map((parameter) => [
    parameter.name, parameter.in, typeOf(parameter.schema, spec), parameter.required ? "yes" : "no",
    parameter.description || resolve(parameter.schema, spec).description || "",
  ]);
  const content = operation.requestBody && operation.requestBody.content;
  for (const [mediaType, media] of Object.entries(content || {})) {
    const schema = resolve(media.schema, spec);
    const required = new Set(schema.required || []);
    for (const [name, property] of Object.entries(schema.properties || {})) {
      rows.push([name, `body (${mediaType})`, typeOf(property, spec), required.has(name) ? "yes" : "no",
        resolve(property, spec).description || ""]);
    }
  }
  if (rows.length) section.appendChild(parameterTable(rows));
  const answers = Object.keys(operation.responses || {}).join(", ");
  if (answers) section.appendChild(element("p", `Responses: ${answers}.`, "chip-hint"));
  return section;
}

async function main() {
  const root = document.getElementById("api");
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
    const spec = await response.json();
    root.replaceChildren(element("h2", `${spec.info.title} ${spec.info.version}`));
    if (spec.info.summary) root.appendChild(element("p", spec.info.summary));
    for (const [path, operations] of Object.entries(spec.paths || {})) {
      for (const [method, operation] of Object.entries(operations)) {
        root.appendChild(operationSection(path, method, operation, spec));
      }
    }
  } catch (error) {
    root.replaceChildren(element("p", `Could not load the API description: ${error.message}`, "error"));
  }
}

main();
