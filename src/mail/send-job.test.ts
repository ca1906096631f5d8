import { describe, expect, it } from 'vitest';
import { refusedForGood, smtpProblem } from './send-job';

/** nodemailer's errors as its SMTP connection builds them: code, the command refused, the server's reply. */
function smtpError(code: string, command: string, response: string) {
  return Object.assign(new Error(`failed: ${response}`), { code, command, response, responseCode: Number(response.slice(0, 3)) });
}

describe('refusedForGood', () => {
  it('gives up on a message whose recipient or content the server refuses for good', () => {
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '550 5.1.1 <x@y>: Recipient address rejected: User unknown'))).toBe(true);
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '550-5.1.2 Bad destination system'))).toBe(true);
    expect(refusedForGood(smtpError('EMESSAGE', 'DATA', '552 5.3.4 Message size exceeds fixed limit'))).toBe(true);
  });

  it('keeps trying what may pass later, or what is the settings’ fault rather than the message’s', () => {
    // A temporary refusal: greylisting, a full queue.
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '451 4.7.1 Greylisted, try again later'))).toBe(false);
    // Policy: relaying denied to a server that wants a login, a sender it does not take.
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '554 5.7.1 <x@y>: Relay access denied'))).toBe(false);
    expect(refusedForGood(smtpError('EENVELOPE', 'MAIL FROM', '550 5.1.0 Sender rejected'))).toBe(false);
    // The sender refused late, at RCPT TO (Postfix's delayed reject): still our MAIL_FROM's fault.
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '553 5.1.8 <payouts@localhost>: Sender address rejected: Domain not found'))).toBe(false);
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '550 5.1.0 <payouts@fleet.example>: Sender address rejected: User unknown'))).toBe(false);
    // No enhanced status: a relay refusing everyone answers like this too.
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '554 Relay access denied'))).toBe(false);
    expect(refusedForGood(smtpError('EENVELOPE', 'RCPT TO', '550 no such mailbox'))).toBe(false);
    expect(refusedForGood(smtpError('EAUTH', 'AUTH PLAIN', '535 5.7.8 Authentication credentials invalid'))).toBe(false);
    // No server reached at all.
    expect(refusedForGood(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNECTION' }))).toBe(false);
    expect(refusedForGood(undefined)).toBe(false);
  });

  it('records a refusal as its codes and class, not the server’s text', () => {
    expect(smtpProblem(smtpError('EENVELOPE', 'RCPT TO', '550 5.1.1 <owner@park.example>: User unknown'))).toBe('EENVELOPE 550 (permanent)');
  });
});
