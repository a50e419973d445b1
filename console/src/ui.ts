/** Pieces every view uses: error boxes, notices, and a region of the page that loads. */
import { type ApiError, asApiError } from './api.js';
import { type Child, el, h, replace } from './dom.js';

/** An error as the user sees it: the API's code first, then its message and status. */
export function errorBox(error: unknown): HTMLElement {
  const e: ApiError = asApiError(error);
  return el(
    'div',
    { class: 'error', role: 'alert' },
    {},
    el('code', { class: 'error-code' }, {}, e.code),
    ' ',
    e.message,
    e.status > 0 ? ` (HTTP ${e.status})` : null,
  );
}

/** A short message that something happened. */
export function notice(text: Child): HTMLElement {
  return el('p', { class: 'notice', role: 'status' }, {}, text);
}

/** A view's heading with optional buttons beside it. */
export function heading(title: string, ...actions: Child[]): HTMLElement {
  return el('div', { class: 'heading' }, {}, h('h2', title), el('div', { class: 'actions' }, {}, ...actions));
}

/** A button that runs `action` and stays disabled while it runs. */
export function button(
  label: string,
  action: () => Promise<void> | void,
  attributes: Record<string, string> = {},
): HTMLButtonElement {
  const node: HTMLButtonElement = el(
    'button',
    { type: 'button', ...attributes },
    {
      click: () => {
        node.disabled = true;
        void Promise.resolve()
          .then(action)
          .finally(() => {
            node.disabled = false;
          });
      },
    },
    label,
  );
  return node;
}

/**
 * A part of the page filled by `load`: shows "loading", then what `load` returns, or the error
 * with its code. Returns the container and a function to load it again.
 */
export function loader(
  label: string,
  load: () => Promise<Child>,
): { node: HTMLElement; reload: () => Promise<void> } {
  const node = el('div', { class: 'loader', 'aria-live': 'polite', 'aria-label': label });
  let generation = 0;
  const reload = async (): Promise<void> => {
    const mine = ++generation;
    node.setAttribute('aria-busy', 'true');
    if (node.childElementCount === 0) replace(node, el('p', { class: 'muted' }, {}, 'Loading…'));
    let content: Child;
    try {
      content = await load();
    } catch (error) {
      content = errorBox(error);
    }
    // a slower earlier load must not overwrite a newer one
    if (mine !== generation) return;
    replace(node, content);
    node.removeAttribute('aria-busy');
  };
  return { node, reload };
}
