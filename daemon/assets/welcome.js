// The welcome page: shows whether wagwd answers its health check.
'use strict';

(async () => {
  const slot = document.getElementById('health');
  const show = (kind, text) => {
    const badge = document.createElement('span');
    badge.className = `badge ${kind}`;
    badge.textContent = text;
    slot.replaceChildren(badge);
  };
  try {
    const response = await fetch('/health', { cache: 'no-store', credentials: 'omit' });
    const body = await response.json();
    if (response.ok && body.status === 'ok') show('ok', 'wagwd is running');
    else show('down', `wagwd answered: ${body.status || response.status}`);
  } catch (error) {
    show('down', 'wagwd is not reachable');
  }
})();
