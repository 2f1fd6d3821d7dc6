// Building the page from data without ever parsing data as markup: every string a
// customer (or anyone) supplied becomes a text node, so `<img onerror=…>` stays text.

/// An element: `props` sets properties (`className`, `id`, `hidden`, `value`…), `on…`
/// listeners, and `attrs` attributes (`aria-…`, `for`, `data-…`); string children are text.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === 'attrs') {
      for (const [a, v] of Object.entries(value)) if (v !== undefined && v !== null) node.setAttribute(a, String(v));
    } else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else {
      node[name] = value;
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/// A function that runs `f` once calls have paused for `ms`.
export function debounce(f, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => f(...args), ms);
  };
}
