// The page header's account area and the sign-in dialog, shared by every
// page. A native <dialog>: focus moves into it, Escape closes it, and focus
// returns to what opened it.

import { h, fill, byId } from './dom.js';
import { explain } from './errors.js';
import * as session from './session.js';

let dialog = null;
let waiting = null; // resolve of the promise `signIn` returned

/** Fills `#account` with the signed-in name and "Log out", or "Log in". */
export function mountAccount() {
  const box = byId('account');
  session.onChange((u) => {
    if (u) {
      fill(box,
        h('span', { class: 'account-name' }, h('span', { class: 'sr-only' }, 'Signed in as '), u.name),
        h('button', { type: 'button', class: 'link', id: 'logout', onclick: () => session.logout() },
          'Log out'));
    } else {
      fill(box, h('button', { type: 'button', class: 'secondary', id: 'login-open',
        onclick: () => signIn() }, 'Log in'));
    }
  });
}

/**
 * Opens the sign-in dialog; resolves with the user once signed in, or null
 * if the dialog is closed. `reason` says why it is needed ("to bid").
 * `role` preselects the role of a new account.
 */
export function signIn({ reason = '', role = 'buyer' } = {}) {
  if (session.user()) return Promise.resolve(session.user());
  build();
  dialog.querySelector('#auth-reason').textContent = reason ? `Log in or sign up ${reason}.` : '';
  dialog.querySelector(`input[name=role][value=${role}]`).checked = true;
  dialog.querySelector('#auth-error').textContent = '';
  if (!dialog.open) dialog.showModal();
  dialog.querySelector('#auth-username').focus();
  return new Promise((resolve) => {
    if (waiting) waiting(null);
    waiting = resolve;
  });
}

function build() {
  if (dialog) return;
  const error = h('p', { id: 'auth-error', class: 'form-error', role: 'alert' });
  const form = h('form', { method: 'dialog', class: 'stack', novalidate: true },
    h('h2', { id: 'auth-title' }, 'Log in or sign up'),
    h('p', { id: 'auth-reason', class: 'muted' }),
    h('label', { for: 'auth-username' }, 'Username'),
    h('input', { id: 'auth-username', name: 'username', autocomplete: 'username', required: true,
      maxlength: 32, 'aria-describedby': 'auth-hint' }),
    h('label', { for: 'auth-password' }, 'Password'),
    h('input', { id: 'auth-password', name: 'password', type: 'password', required: true,
      autocomplete: 'current-password', 'aria-describedby': 'auth-hint' }),
    h('p', { id: 'auth-hint', class: 'hint' },
      'New usernames: 3 to 32 letters, digits, ".", "_" or "-". Passwords: at least 8 characters.'),
    h('fieldset', { class: 'choices' },
      h('legend', {}, 'New account as'),
      h('label', {}, h('input', { type: 'radio', name: 'role', value: 'buyer', checked: true }), ' Buyer'),
      h('label', {}, h('input', { type: 'radio', name: 'role', value: 'seller' }), ' Seller')),
    error,
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary', id: 'auth-login', value: 'login' }, 'Log in'),
      h('button', { type: 'submit', class: 'secondary', id: 'auth-register', value: 'register' },
        'Create account'),
      h('button', { type: 'button', class: 'link', id: 'auth-cancel',
        onclick: () => dialog.close() }, 'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(form, e.submitter ? e.submitter.value : 'login', error);
  });
  dialog = h('dialog', { class: 'auth-dialog', 'aria-labelledby': 'auth-title' }, form);
  dialog.addEventListener('close', () => {
    if (waiting) {
      waiting(session.user());
      waiting = null;
    }
  });
  document.body.append(dialog);
}

async function submit(form, action, error) {
  // Usernames are stored lowercased; chat shows them that way.
  const username = form.username.value.trim().toLowerCase();
  const password = form.password.value;
  if (!username || !password) {
    error.textContent = 'Enter a username and a password.';
    return;
  }
  const buttons = form.querySelectorAll('button[type=submit]');
  buttons.forEach((b) => { b.disabled = true; });
  error.textContent = '';
  try {
    if (action === 'register') {
      await session.register(username, password, form.role.value);
    } else {
      await session.login(username, password);
    }
    form.password.value = '';
    dialog.close();
  } catch (err) {
    error.textContent = explain(err, {
      unauthorized: 'Wrong username or password.',
      bad_request: action === 'register'
        ? 'Usernames are 3 to 32 letters, digits, ".", "_" or "-"; passwords 8 to 128 characters.'
        : 'Enter a username and a password.',
    });
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}
