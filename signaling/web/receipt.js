// confer: the signed visit receipt (R-PRIV-1). Once a visit has ended, each participant
// can keep the server's signed record of it: who was admitted, when, with which device
// and keys, how it ended, the audit entries and the hashes of these pages. Never any
// content. Check it offline with `confer receipt verify FILE --public-key KEY`.
import { ConferError, describeError, refusalText } from './confer.js';

/** Fetch the receipt at `path` (a lawyer passes the session token; a booth's
 * certificate is presented by the browser) and save it as a file. */
export async function downloadReceipt(path, { token, filename }) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { headers, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ConferError('network', 'The server cannot be reached. Please check the network connection.');
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const code = data && typeof data.code === 'string' ? data.code : `http_${response.status}`;
    throw new ConferError(code, refusalText(data, response.status));
  }
  // The exact bytes the server signed: saved as they are, never re-formatted.
  const file = await response.blob();
  const href = URL.createObjectURL(file);
  const link = document.createElement('a');
  link.href = href;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

/** A button that saves the receipt of visit `visitId` from `path`; `onError` gets a
 * sentence (or '' after a success). */
export function receiptButton(visitId, { path, token, onError }) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'secondary receipt';
  button.dataset.visitId = String(visitId);
  button.textContent = '下载会见凭据 (Download the signed receipt)';
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await downloadReceipt(path, { token, filename: `confer-receipt-visit-${visitId}.json` });
      onError('');
    } catch (err) {
      onError(describeError(err));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
