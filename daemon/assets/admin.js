// The admin panel: users with their session state, user management, admin's own named sessions.
'use strict';

(() => {
  const {
    api, el, badge, handle, showOk, clearErrors, toast, confirmAction, follow,
  } = wagw;
  const $ = (id) => document.getElementById(id);

  let users = [];
  const sessions = new Map(); // name -> a GET /session entry, kept current by events
  const qrImages = new Map(); // name -> { code, src } of the QR picture shown for admin's sessions
  let reloadTimer = null;

  // --- Users -------------------------------------------------------------------------------

  function renderUsers() {
    const slot = $('users');
    if (!users.length) {
      slot.replaceChildren(el('p', { class: 'empty' }, 'No users yet. Create the first one below.'));
      return;
    }
    const rows = users.map((user) => {
      const session = sessions.get(user.session);
      const status = session ? session.status : 'stopped';
      return el('tr', { dataset: { user: user.username } },
        el('td', { 'data-label': 'User' }, el('strong', {}, user.username)),
        el('td', { 'data-label': 'Session', class: 'mono' }, user.session),
        el('td', { 'data-label': 'Status' }, badge(status)),
        el('td', { 'data-label': 'Phone' }, session && session.phone ? `+${session.phone}` : '—'),
        el('td', { 'data-label': 'Webhook', class: 'url' }, user.callback_url ? el('span', { class: 'mono' }, user.callback_url) : '—'),
        el('td', { class: 'actions-cell' }, el('div', { class: 'actions' },
          el('button', { type: 'button', class: 'secondary small', 'aria-label': `Change password of ${user.username}`, onclick: () => openPassword(user) }, 'Password'),
          el('button', { type: 'button', class: 'secondary small', 'aria-label': `Session settings of ${user.username}`, onclick: () => openConfig(user) }, 'Settings'),
          el('button', { type: 'button', class: 'danger small', 'aria-label': `Delete ${user.username}`, onclick: () => openDelete(user) }, 'Delete'))));
    });
    slot.replaceChildren(el('table', { class: 'stack' },
      el('thead', {}, el('tr', {}, ['User', 'Session', 'Status', 'Phone', 'Webhook', ''].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows)));
  }

  // --- Admin's own sessions ------------------------------------------------------------------

  async function refreshQr(name, code) {
    const known = qrImages.get(name);
    if (known && known.code === code) return;
    try {
      const src = await api.blobUrl(`/dashboard/qr.svg?session=${encodeURIComponent(name)}`);
      if (known && known.src.startsWith('blob:')) URL.revokeObjectURL(known.src);
      qrImages.set(name, { code, src });
      renderOwn();
    } catch (error) {
      // Scanned or stopped before the picture arrived; the next event says which.
    }
  }

  function renderOwn() {
    const own = [...sessions.values()].filter((s) => s.owner_user_id === null || s.owner_user_id === undefined);
    const list = $('own-sessions');
    if (!own.length) {
      list.replaceChildren(el('li', { class: 'empty' }, 'No sessions of your own yet.'));
      return;
    }
    list.replaceChildren(...own.map((s) => {
      let qr = null;
      if (s.status === 'qr') {
        const image = qrImages.get(s.session);
        if (!image || image.code !== s.qr) refreshQr(s.session, s.qr);
        qr = el('div', { class: 'qr-box' },
          image ? el('img', { src: image.src, alt: `QR code for session ${s.session}`, dataset: { qr: image.code || '' } }) : el('p', {}, 'Loading QR code…'),
          el('ol', {}, el('li', {}, 'On the phone: Settings → Linked devices → Link a device.'), el('li', {}, 'Scan this code. It refreshes by itself.')));
      }
      return el('li', { class: 'session-item', dataset: { session: s.session } },
        el('header', {},
          el('strong', { class: 'mono' }, s.session),
          badge(s.status),
          s.phone ? el('span', {}, `+${s.phone}`) : null,
          el('div', { class: 'actions' },
            el('button', { type: 'button', class: 'danger small', 'aria-label': `Log out ${s.session}`, onclick: () => logout(s.session) }, 'Log out'))),
        qr);
    }));
  }

  async function logout(name) {
    const sure = await confirmAction(`Log out ${name}?`,
      'The session is unlinked from its phone and its credentials are removed.', 'Log out');
    if (!sure) return;
    try {
      await api.post('/session/logout', { session: name });
      sessions.delete(name);
      qrImages.delete(name);
      renderOwn();
      renderUsers();
      toast(`Session ${name} logged out`);
    } catch (error) {
      toast(error.message);
    }
  }

  handle($('own-form'), async (data) => {
    const name = String(data.get('session')).trim();
    const answer = await api.post('/session/start', { session: name });
    const entry = sessions.get(answer.session) || { session: answer.session, owner_user_id: null };
    entry.status = answer.status;
    entry.phone = answer.phone || entry.phone || null;
    entry.qr = answer.qr || null;
    sessions.set(answer.session, entry);
    if (answer.qr_image) qrImages.set(answer.session, { code: answer.qr, src: answer.qr_image });
    $('own-form').reset();
    renderOwn();
  });

  // --- Loading and live updates --------------------------------------------------------------

  async function reload() {
    const [userList, sessionList] = await Promise.all([api.get('/admin/users'), api.get('/session')]);
    users = userList;
    sessions.clear();
    for (const s of sessionList) sessions.set(s.session, s);
    renderUsers();
    renderOwn();
  }

  function reloadSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => { reload().catch(() => {}); }, 300);
  }

  function onEvent(event) {
    if (event.type === 'lagged') {
      reloadSoon();
      return;
    }
    const entry = event.session && sessions.get(event.session);
    if (event.type !== 'status' && event.type !== 'qr') return;
    if (!entry) {
      reloadSoon();
      return;
    }
    if (event.type === 'status') {
      entry.status = event.status;
      entry.reason = event.reason;
      if (event.phone) entry.phone = event.phone;
      if (event.status !== 'qr') entry.qr = null;
    } else {
      entry.status = 'qr';
      entry.qr = event.qr;
    }
    renderUsers();
    renderOwn();
  }

  function setLive(on) {
    const live = $('live');
    live.className = on ? 'badge live' : 'badge';
    live.textContent = on ? 'Live' : 'Reconnecting…';
    document.body.dataset.live = on ? 'on' : 'off';
  }

  // --- Create, password, settings, delete ---------------------------------------------------

  handle($('create-form'), async (data) => {
    const body = { username: String(data.get('username')).trim(), password: String(data.get('password')) };
    for (const key of ['session_name', 'callback_url', 'oauth_login', 'oauth_password']) {
      const value = String(data.get(key)).trim();
      if (value) body[key] = value;
    }
    const user = await api.post('/admin/users', body);
    $('create-form').reset();
    await reload();
    showOk($('create-form'), `User ${user.username} created. They sign in at /dashboard.`);
  });

  let editing = null;

  function openDialog(id, focusId) {
    const dialog = $(id);
    clearErrors(dialog.querySelector('form'));
    dialog.showModal();
    $(focusId).focus();
  }

  document.querySelectorAll('dialog [data-close]').forEach((button) => {
    button.addEventListener('click', () => button.closest('dialog').close());
  });

  function openPassword(user) {
    editing = user;
    $('password-form').reset();
    $('password-who').textContent = `For ${user.username}. Their current sign-ins stop working at once.`;
    openDialog('password-dialog', 'password-new');
  }

  handle($('password-form'), async (data) => {
    await api.put(`/admin/users/${editing.id}/password`, { password: String(data.get('password')) });
    $('password-dialog').close();
    toast(`Password of ${editing.username} changed`);
  });

  function openConfig(user) {
    editing = user;
    $('config-who').textContent = `For ${user.username}.`;
    $('config-session-name').value = user.session_name || '';
    $('config-callback-url').value = user.callback_url || '';
    $('config-oauth-login').value = user.oauth_login || '';
    $('config-oauth-password').value = '';
    $('config-oauth-help').textContent = user.has_oauth_password
      ? 'A client secret is saved. Leave empty to keep it.'
      : 'No client secret saved.';
    openDialog('config-dialog', 'config-session-name');
  }

  handle($('config-form'), async (data) => {
    const body = {};
    for (const key of ['session_name', 'callback_url', 'oauth_login']) {
      body[key] = String(data.get(key)).trim() || null;
    }
    const secret = String(data.get('oauth_password'));
    if (secret) body.oauth_password = secret;
    await api.put(`/admin/users/${editing.id}/session-config`, body);
    $('config-dialog').close();
    await reload();
    toast(`Settings of ${editing.username} saved`);
  });

  function openDelete(user) {
    editing = user;
    $('delete-what').textContent = `${user.username} and their session “${user.session}” will be deleted, `
      + 'with its WhatsApp link. This cannot be undone.';
    // Cancel has the focus, so a stray Enter does not delete anyone.
    openDialog('delete-dialog', 'delete-cancel');
  }

  handle($('delete-form'), async () => {
    await api.del(`/admin/users/${editing.id}`);
    $('delete-dialog').close();
    await reload();
    toast(`User ${editing.username} deleted`);
  });

  // --- Start -------------------------------------------------------------------------------

  wagw.signIn({
    checkPath: '/admin/users',
    start: async (first) => {
      users = first;
      setLive(false);
      await reload();
      return follow('/events', {
        onEvent,
        onOpen: () => {
          setLive(true);
          reload().catch(() => {});
        },
        onClose: () => setLive(false),
      });
    },
  });
})();
