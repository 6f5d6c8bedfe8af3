// Shared by the dashboard and the admin panel: sign-in, API calls, the live event stream, form
// errors and a small DOM builder. Plain browser JavaScript, no build step.
'use strict';

const wagw = (() => {
  // Credentials live in this variable only: never in storage, so closing the tab signs out.
  let authorization = null;
  let username = null;

  function basic(user, password) {
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    let binary = '';
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return `Basic ${btoa(binary)}`;
  }

  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // credentials: 'omit' stops the browser from answering the API's 401 with its own password
  // prompt: the page's form is the one place credentials come from.
  async function request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (authorization) headers.Authorization = authorization;
    const init = { method, headers, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiFailure(0, 'network', 'wagwd is not reachable; check that it is running.');
    }
    let json = null;
    try {
      json = await response.json();
    } catch (error) {
      json = null;
    }
    if (!response.ok) {
      const message = (json && json.message) || `The request failed (HTTP ${response.status}).`;
      throw new ApiFailure(response.status, (json && json.code) || 'http_error', message);
    }
    return json && Object.prototype.hasOwnProperty.call(json, 'data') ? json.data : json;
  }

  const api = {
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body === undefined ? {} : body),
    put: (path, body) => request('PUT', path, body),
    del: (path) => request('DELETE', path),
    // For a route that may not exist on this wagwd: the status, without throwing.
    probe: async (path) => {
      const response = await fetch(path, { headers: { Authorization: authorization }, credentials: 'omit', cache: 'no-store' });
      return response.status;
    },
    // Fetches an image with the credentials, for <img>, which cannot send headers.
    blobUrl: async (path) => {
      const response = await fetch(path, { headers: { Authorization: authorization }, credentials: 'omit', cache: 'no-store' });
      if (!response.ok) throw new ApiFailure(response.status, 'http_error', `HTTP ${response.status}`);
      return URL.createObjectURL(await response.blob());
    },
  };

  // Element builder: text always goes in as text, so names and URLs from the API cannot inject markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function badge(status) {
    const labels = {
      stopped: 'Not started',
      qr: 'Waiting for scan',
      connecting: 'Connecting',
      connected: 'Connected',
      disconnected: 'Reconnecting',
      logged_out: 'Logged out',
    };
    return el('span', { class: `badge ${status}`, dataset: { status } }, labels[status] || status);
  }

  // Field names in the API's messages ("password: must be …") and codes that name a field.
  const CODE_FIELDS = {
    username_taken: 'username',
    session_name_taken: 'session_name',
    invalid_recipient: 'to',
  };

  function clearErrors(form) {
    form.querySelectorAll('.field-error, .form-error').forEach((node) => {
      node.textContent = '';
      node.hidden = true;
    });
    form.querySelectorAll('[aria-invalid]').forEach((node) => node.removeAttribute('aria-invalid'));
    form.querySelectorAll('.form-ok').forEach((node) => node.remove());
  }

  // Shows the API's message beside the field it is about, or at the top of the form.
  function showError(form, error) {
    const match = /^([a-z_]+): /.exec(error.message || '');
    const fieldName = (match && match[1]) || CODE_FIELDS[error.code];
    const input = fieldName && form.querySelector(`[name="${fieldName}"]`);
    if (input) {
      const slot = document.getElementById(`${input.id}-error`);
      if (slot) {
        slot.textContent = error.message;
        slot.hidden = false;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
    }
    let slot = form.querySelector('.form-error');
    if (!slot) {
      slot = el('p', { class: 'form-error', role: 'alert' });
      form.prepend(slot);
    }
    slot.textContent = error.message || String(error);
    slot.hidden = false;
  }

  function showOk(form, text) {
    form.querySelectorAll('.form-ok').forEach((node) => node.remove());
    form.append(el('p', { class: 'form-ok', role: 'status' }, text));
  }

  // Runs `work` for a submitted form: disables its buttons meanwhile and shows any API error.
  function handle(form, work) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      // Submit buttons only: a double submit is what needs stopping, and a disabled button
      // cannot take the focus that `work` may hand to it.
      const buttons = form.querySelectorAll('button[type="submit"]');
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await work(new FormData(form), event.submitter);
      } catch (error) {
        showError(form, error);
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  }

  function toast(text) {
    const node = el('div', { class: 'toast', role: 'status' }, text);
    document.body.append(node);
    setTimeout(() => node.remove(), 3500);
  }

  // A confirmation in a modal <dialog>, styled like the rest of the page (window.confirm is not).
  // Cancel has the focus, so a stray Enter changes nothing; Escape cancels too.
  function confirmAction(title, text, actionLabel) {
    return new Promise((resolve) => {
      const cancel = el('button', { type: 'button', class: 'secondary', value: 'cancel' }, 'Cancel');
      const go = el('button', { type: 'button', class: 'danger solid', value: 'ok' }, actionLabel);
      const dialog = el('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
        el('h2', { id: 'confirm-title' }, title),
        el('p', {}, text),
        el('div', { class: 'actions' }, cancel, go));
      const answer = (value) => {
        dialog.close();
        dialog.remove();
        resolve(value);
      };
      cancel.addEventListener('click', () => answer(false));
      go.addEventListener('click', () => answer(true));
      dialog.addEventListener('cancel', (event) => {
        event.preventDefault();
        answer(false);
      });
      document.body.append(dialog);
      dialog.showModal();
      cancel.focus();
    });
  }

  // Server-sent events read with fetch(): EventSource cannot send an Authorization header.
  // Reconnects with backoff; `onOpen` runs on every (re)connect so the page can resync.
  function follow(path, { onEvent, onOpen, onClose }) {
    const controller = new AbortController();
    let stopped = false;
    let delay = 1000;

    function dispatch(block) {
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') name = value;
        else if (field === 'data') data.push(value);
      }
      if (name === 'lagged') {
        onEvent({ type: 'lagged' });
        return;
      }
      if (data.length === 0) return;
      try {
        onEvent(JSON.parse(data.join('\n')));
      } catch (error) {
        // Not JSON: not one of ours. Skip it rather than stop the stream.
      }
    }

    (async () => {
      while (!stopped) {
        try {
          const response = await fetch(path, {
            headers: { Authorization: authorization, Accept: 'text/event-stream' },
            credentials: 'omit',
            cache: 'no-store',
            signal: controller.signal,
          });
          if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
          delay = 1000;
          onOpen();
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer = (buffer + value).replace(/\r\n?/g, '\n');
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              dispatch(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
          }
        } catch (error) {
          // Dropped or refused: fall through to the retry below.
        }
        if (stopped) return;
        onClose();
        await new Promise((resolve) => { setTimeout(resolve, delay); });
        delay = Math.min(delay * 2, 15000);
      }
    })();

    return () => {
      stopped = true;
      controller.abort();
    };
  }

  // The sign-in form: checks the credentials with `checkPath`, then hands over to `start`.
  function signIn({ checkPath, start }) {
    const form = document.getElementById('login-form');
    const login = document.getElementById('login');
    const app = document.getElementById('app');
    const who = document.getElementById('who');
    const signOut = document.getElementById('sign-out');
    let stop = null;

    handle(form, async (data) => {
      const user = String(data.get('username') || '').trim();
      authorization = basic(user, String(data.get('password') || ''));
      try {
        const first = await api.get(checkPath);
        username = user;
        form.reset();
        login.hidden = true;
        app.hidden = false;
        who.textContent = `Signed in as ${user}`;
        signOut.hidden = false;
        stop = await start(first);
        const heading = app.querySelector('h1');
        if (heading) heading.focus();
      } catch (error) {
        authorization = null;
        throw error;
      }
    });

    signOut.addEventListener('click', () => {
      // Forgetting the credentials is the whole of signing out: nothing else holds them.
      authorization = null;
      username = null;
      if (stop) stop();
      window.location.reload();
    });

    document.getElementById('login-username').focus();
  }

  return {
    api, el, badge, handle, clearErrors, showError, showOk, toast, confirmAction, follow, signIn, user: () => username,
  };
})();
