// The user's dashboard: one session, its QR code and live state, webhook settings, a test send.
'use strict';

(() => {
  const {
    api, el, badge, handle, showOk, showError, clearErrors, toast, confirmAction, follow,
  } = wagw;
  const $ = (id) => document.getElementById(id);

  let info = null; // the answer of /dashboard/session-info, kept current by events
  let qrUrl = null; // a blob: URL to revoke when the QR rotates
  let qrShown = null; // the QR string the image shows
  let qrLoading = null; // the QR string whose picture is being fetched

  function setQrImage(src, code) {
    const image = $('qr-image');
    if (qrUrl && qrUrl !== src) URL.revokeObjectURL(qrUrl);
    qrUrl = src;
    image.src = src;
    qrShown = code;
    image.dataset.qr = code || '';
  }

  // The QR picture comes from the server; the event only carries its text.
  async function refreshQr(code) {
    if (code && (code === qrShown || code === qrLoading)) return;
    qrLoading = code;
    try {
      const src = await api.blobUrl('/dashboard/qr.svg');
      // Only if the session is still waiting for this scan; else the picture is stale.
      if (info.status === 'qr') setQrImage(src, code);
      else URL.revokeObjectURL(src);
    } catch (error) {
      // The session moved on (scanned or stopped) before the picture was fetched.
    } finally {
      if (qrLoading === code) qrLoading = null;
    }
  }

  function renderUser() {
    const user = info.user;
    const url = $('callback-url');
    if (document.activeElement !== url) url.value = user.callback_url || '';
    const login = $('oauth-login');
    if (document.activeElement !== login) login.value = user.oauth_login || '';
    $('oauth-password-help').textContent = user.has_oauth_password
      ? 'A client secret is saved. Leave empty to keep it.'
      : 'No client secret saved yet.';
    $('secret-state').textContent = user.has_webhook_secret
      ? 'A signing secret is set.'
      : 'No signing secret is set: deliveries are not signed.';
    $('secret-remove').hidden = !user.has_webhook_secret;
    $('oauth-remove').hidden = !(user.oauth_login || user.has_oauth_password);
  }

  function renderSession() {
    const { status } = info;
    $('session-status').replaceChildren(badge(status));
    $('session-name').textContent = info.session;
    $('session-phone').textContent = info.phone ? `+${info.phone}` : '—';
    const reason = $('session-reason');
    reason.hidden = !info.reason || status === 'connected';
    reason.textContent = info.reason ? `Last change: ${info.reason}` : '';

    const connected = status === 'connected';
    $('connected-box').hidden = !connected;
    $('connected-box').textContent = connected
      ? `Connected${info.phone ? ` as +${info.phone}` : ''}. You can send messages now.`
      : '';
    $('qr-box').hidden = status !== 'qr';
    if (status !== 'qr') qrShown = null;
    else if (info.qr) refreshQr(info.qr);

    const generate = $('generate-qr');
    // While a QR code is showing it refreshes by itself: nothing to generate.
    generate.hidden = connected || status === 'connecting' || status === 'qr';
    $('disconnect').hidden = status === 'stopped' || status === 'logged_out';
  }

  async function reload() {
    info = await api.get('/dashboard/session-info');
    renderSession();
    renderUser();
  }

  function onEvent(event) {
    if (event.type === 'lagged') {
      reload().catch(() => {});
      return;
    }
    if (event.session && event.session !== info.session) return;
    if (event.type === 'status') {
      info.status = event.status;
      info.reason = event.reason;
      if (event.phone) info.phone = event.phone;
      if (event.status !== 'qr') info.qr = null;
      renderSession();
      refreshDeliveries();
    } else if (event.type === 'qr') {
      info.status = 'qr';
      info.qr = event.qr;
      renderSession();
    } else if (event.type === 'message' || event.type === 'receipt') {
      refreshDeliveries();
    }
  }

  function setLive(on) {
    const live = $('live');
    live.className = on ? 'badge live' : 'badge';
    live.textContent = on ? 'Live' : 'Reconnecting…';
    document.body.dataset.live = on ? 'on' : 'off';
  }

  // --- Session ---------------------------------------------------------------------------

  handle($('session-form'), async () => {
    const answer = await api.post('/dashboard/start-session');
    info.status = answer.status;
    if (answer.phone) info.phone = answer.phone;
    // The picture comes from /dashboard/qr.svg, as for every later rotation, rather than from
    // the answer's PNG: one source, fetched once per code.
    if (answer.qr) info.qr = answer.qr;
    renderSession();
  });

  $('disconnect').addEventListener('click', async () => {
    const form = $('session-form');
    clearErrors(form);
    const sure = await confirmAction('Disconnect WhatsApp?',
      'This unlinks the session from your phone. To use it again you scan a new QR code.', 'Disconnect');
    if (!sure) return;
    try {
      await api.post('/dashboard/disconnect-session');
      info.status = 'stopped';
      info.phone = null;
      info.qr = null;
      renderSession();
      toast('Session disconnected');
    } catch (error) {
      showError(form, error);
    }
  });

  // --- Test message ----------------------------------------------------------------------

  handle($('send-form'), async (data) => {
    const sent = await api.post('/message/send-text', { to: String(data.get('to')).trim(), text: String(data.get('text')) });
    showOk($('send-form'), `Sent. Message id ${sent.key ? sent.key.id : sent.id}`);
  });

  // --- Webhook, signing secret, OAuth ----------------------------------------------------

  handle($('callback-form'), async (data) => {
    const url = String(data.get('callback_url')).trim();
    info.user = await api.put('/dashboard/callback', { callback_url: url || null });
    renderUser();
    showOk($('callback-form'), url ? 'Webhook URL saved.' : 'Webhook turned off.');
  });

  function newSecret() {
    const bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    let binary = '';
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return `whsec_${btoa(binary)}`;
  }

  handle($('secret-form'), async () => {
    if (info.user.has_webhook_secret && !await confirmAction('Replace the signing secret?',
      'Deliveries are signed with the new secret at once; your receiver must switch to it.', 'Replace')) return;
    const secret = newSecret();
    info.user = await api.put('/dashboard/callback', { webhook_secret: secret });
    renderUser();
    $('secret-value').textContent = secret;
    $('secret-once').hidden = false;
    $('secret-copy').focus();
  });

  $('secret-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('secret-value').textContent);
      toast('Secret copied');
    } catch (error) {
      // Clipboard refused (insecure origin): select the text so the user can copy it by hand.
      window.getSelection().selectAllChildren($('secret-value'));
    }
  });

  $('secret-remove').addEventListener('click', async () => {
    const form = $('secret-form');
    clearErrors(form);
    if (!await confirmAction('Remove the signing secret?', 'Deliveries will no longer be signed.', 'Remove')) return;
    try {
      info.user = await api.put('/dashboard/callback', { webhook_secret: null });
      $('secret-once').hidden = true;
      renderUser();
      showOk(form, 'Signing secret removed.');
    } catch (error) {
      showError(form, error);
    }
  });

  handle($('oauth-form'), async (data) => {
    const body = { oauth_login: String(data.get('oauth_login')).trim() || null };
    const secret = String(data.get('oauth_password'));
    if (secret) body.oauth_password = secret;
    info.user = await api.put('/dashboard/oauth', body);
    $('oauth-password').value = '';
    renderUser();
    showOk($('oauth-form'), 'OAuth settings saved.');
  });

  $('oauth-remove').addEventListener('click', async () => {
    const form = $('oauth-form');
    clearErrors(form);
    try {
      info.user = await api.put('/dashboard/oauth', { oauth_login: null, oauth_password: null });
      renderUser();
      showOk(form, 'OAuth settings removed.');
    } catch (error) {
      showError(form, error);
    }
  });

  // --- Recent deliveries -------------------------------------------------------------------
  // Shown only where this wagwd has GET /dashboard/webhooks; the fields read defensively.

  let deliveriesOn = false;
  let deliveriesTimer = null;

  function when(value) {
    if (value === null || value === undefined) return '';
    const date = typeof value === 'number' ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
  }

  function renderDeliveries(list) {
    const body = $('deliveries-body');
    if (!list.length) {
      body.replaceChildren(el('p', { class: 'empty' }, 'No deliveries yet.'));
      return;
    }
    const rows = list.slice(0, 20).map((d) => {
      const id = d.id ?? d.event_id;
      const status = String(d.status ?? d.state ?? '');
      const detail = d.last_error ?? d.error ?? (d.response_status ?? d.last_status ?? '');
      const redeliver = el('button', {
        type: 'button',
        class: 'secondary small',
        'aria-label': `Redeliver ${id}`,
        onclick: async (event) => {
          event.currentTarget.disabled = true;
          try {
            await api.post(`/dashboard/webhooks/${encodeURIComponent(id)}/redeliver`);
            toast('Queued for redelivery');
          } catch (error) {
            toast(error.message);
          }
          refreshDeliveries();
        },
      }, 'Redeliver');
      return el('tr', {},
        el('td', { 'data-label': 'When' }, when(d.created_at ?? d.timestamp ?? d.updated_at)),
        el('td', { 'data-label': 'Event' }, String(d.kind ?? d.event_type ?? d.type ?? '')),
        el('td', { 'data-label': 'Status' }, el('span', { class: `badge ${/deliver|ok|success/.test(status) ? 'ok' : /fail|dead|error/.test(status) ? 'failed' : 'pending'}` }, status)),
        el('td', { 'data-label': 'Attempts' }, String(d.attempts ?? '')),
        el('td', { 'data-label': 'Response' }, String(detail)),
        el('td', { class: 'actions-cell' }, el('div', { class: 'actions' }, redeliver)));
    });
    body.replaceChildren(el('table', { class: 'stack' },
      el('thead', {}, el('tr', {}, ['When', 'Event', 'Status', 'Attempts', 'Response', ''].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows)));
  }

  async function loadDeliveries() {
    const answer = await api.get('/dashboard/webhooks');
    const list = Array.isArray(answer) ? answer : (answer && (answer.deliveries || answer.items)) || [];
    renderDeliveries(list);
  }

  function refreshDeliveries() {
    if (!deliveriesOn) return;
    clearTimeout(deliveriesTimer);
    deliveriesTimer = setTimeout(() => { loadDeliveries().catch(() => {}); }, 500);
  }

  async function startDeliveries() {
    // A wagwd without the route answers 404; the section then stays hidden.
    if ((await api.probe('/dashboard/webhooks')) !== 200) return;
    deliveriesOn = true;
    $('deliveries').hidden = false;
    await loadDeliveries();
  }

  // --- Start -------------------------------------------------------------------------------

  wagw.signIn({
    checkPath: '/dashboard/session-info',
    start: async (first) => {
      info = first;
      renderSession();
      renderUser();
      setLive(false);
      const stop = follow('/events', {
        onEvent,
        onOpen: () => {
          setLive(true);
          // Anything that happened while the stream was down.
          reload().catch(() => {});
        },
        onClose: () => setLive(false),
      });
      startDeliveries().catch(() => {});
      return stop;
    },
  });
})();
