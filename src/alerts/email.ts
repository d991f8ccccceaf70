// Alerts by email over SMTP. Let's Encrypt stopped sending expiry emails in June 2025, so this is
// the mail many teams relied on without knowing. Plain text: it is read on phones and in ticket
// systems, and it has to survive being forwarded.
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { detailLines, isFullyResolved, resolvedSentence, title, type Notification, type Notifier } from './notification.js';

export interface EmailOptions {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465). */
  secure?: boolean;
  /**
   * STARTTLS on a plain connection (ports 25/587). Default: 'required' when a password is set (never
   * send credentials in clear), else 'opportunistic'. Ignored with `secure`.
   */
  starttls?: 'required' | 'opportunistic' | 'disabled';
  user?: string;
  password?: string;
  from: string;
  to: string[];
  /** PEM CA bundle for a private mail server's certificate. */
  ca?: string;
  /** Connect, greeting and socket timeout. Default 15 s; the dispatcher's deadline may end a delivery sooner. */
  timeoutMs?: number;
  name?: string;
  logger?: Logger;
}

/** "[certkeeper] CRITICAL CertificateExpiringSoon shop/shop-tls expires in 2 days". */
export function emailSubject(n: Notification): string {
  return `[certkeeper] ${title(n)}`.replace(/[\r\n]+/g, ' ');
}

export function emailBody(n: Notification): string {
  const a = n.alert;
  const parts: string[] = [];
  if (n.kind === 'firing') {
    parts.push(a.message, '', `What to do: ${a.hint}`);
  } else {
    parts.push(resolvedSentence(n), '', `It was: ${a.message}`);
    if (!isFullyResolved(n)) parts.push('', `What to do: ${a.hint}`);
  }
  parts.push('', ...detailLines(n), '', '-- ', 'certkeeper: expiry alerts fire once per level and once more when they clear.');
  return `${parts.join('\n')}\n`;
}

export class EmailNotifier implements Notifier {
  readonly name: string;
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;

  constructor(private readonly opts: EmailOptions) {
    if (opts.to.length === 0) throw new ConfigError('alert email has no recipients', 'pass at least one address to send alerts to');
    if ((opts.user === undefined) !== (opts.password === undefined)) {
      throw new ConfigError('alert email needs both an SMTP user and a password, or neither', 'set both, or drop both for a relay that needs no login');
    }
    this.name = opts.name ?? 'email';
    const starttls = opts.starttls ?? (opts.password !== undefined ? 'required' : 'opportunistic');
    const timeout = opts.timeoutMs ?? 15_000;
    const options: SMTPTransport.Options = {
      host: opts.host,
      port: opts.port,
      secure: opts.secure ?? false,
      requireTLS: !opts.secure && starttls === 'required',
      ignoreTLS: !opts.secure && starttls === 'disabled',
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      // nodemailer's own logger would print the SMTP dialogue, AUTH included.
      logger: false,
      debug: false,
    };
    if (opts.user !== undefined && opts.password !== undefined) options.auth = { user: opts.user, pass: opts.password };
    if (opts.ca !== undefined) options.tls = { ca: opts.ca };
    this.transport = nodemailer.createTransport(options);
  }

  async send(n: Notification, signal?: AbortSignal): Promise<void> {
    try {
      const mail: SendMailOptions = { from: this.opts.from, to: this.opts.to, subject: emailSubject(n), text: emailBody(n) };
      // nodemailer 10.6 takes a signal and closes the SMTP connection when it fires (its types lag behind).
      const info = await this.transport.sendMail(signal ? ({ ...mail, signal } as SendMailOptions) : mail);
      this.opts.logger?.debug({ channel: this.name, key: n.alert.key, messageId: info.messageId }, 'alert email accepted by the SMTP server');
    } catch (e) {
      const where = `${this.opts.host}:${this.opts.port}`;
      if (signal?.aborted) throw new Error(`sending alert email via ${where} was abandoned before the SMTP server confirmed it (${this.scrub(errorMessage(e))})`);
      throw new Error(`sending alert email via ${where} failed: ${this.scrub(errorMessage(e))}`);
    }
  }

  /** SMTP errors can echo what the client sent; never let the password travel further. */
  private scrub(s: string): string {
    const p = this.opts.password;
    if (!p) return s;
    const b64 = Buffer.from(`\u0000${this.opts.user ?? ''}\u0000${p}`).toString('base64');
    return s.split(p).join('***').split(b64).join('***');
  }

  close(): void {
    this.transport.close();
  }
}
