// ACME profiles (draft-ietf-acme-profiles): which profile an order names, and whether the CA will
// take it. Any CA's directory says which profiles it offers (meta.profiles); Let's Encrypt's
// profiles also restrict what a certificate may hold, and an order that breaks a rule fails at
// the CA after validations were spent, so certkeeper refuses it first. Pure.
import { CA_DIRECTORIES } from './annotations.js';

/** An identifier of an ACME order (RFC 8555 §9.7.7, RFC 8738 for IP addresses). */
export interface OrderIdentifier {
  type: 'dns' | 'ip';
  value: string;
}

/** What a CA's directory says about profiles: name → description; undefined when it offers none. */
export type CaProfiles = Readonly<Record<string, string>> | undefined;

export interface ProfileRule {
  maxNames: number;
  /** IP address identifiers allowed. */
  ip: boolean;
  /** For messages: what the profile issues. */
  lifetime: string;
}

/**
 * Let's Encrypt's rules per profile (https://letsencrypt.org/docs/profiles/): classic 90 days with
 * up to 100 names and no IP addresses; tlsserver 45 days and shortlived 160 hours with up to 25
 * names, IP addresses on shortlived only. An order without a profile gets classic.
 */
export const LETS_ENCRYPT_PROFILES: Readonly<Record<string, ProfileRule>> = {
  classic: { maxNames: 100, ip: false, lifetime: '90 days' },
  tlsserver: { maxNames: 25, ip: false, lifetime: '45 days' },
  shortlived: { maxNames: 25, ip: true, lifetime: '160 hours' },
};
export const LETS_ENCRYPT_DEFAULT_PROFILE = 'classic';

/** Let's Encrypt's production or staging directory. */
export function isLetsEncrypt(directoryUrl: string): boolean {
  return directoryUrl === CA_DIRECTORIES.production || directoryUrl === CA_DIRECTORIES.staging;
}

export interface ProfileRefusal {
  code: 'ProfileUnknown' | 'ProfileNotAllowed';
  message: string;
  hint: string;
}

function listProfiles(profiles: Readonly<Record<string, string>>): string {
  return Object.entries(profiles)
    .map(([name, description]) => (description ? `${name} (${description})` : name))
    .join(', ');
}

/**
 * The profile to order when none was asked for: shortlived for IP addresses on Let's Encrypt (the
 * only profile that allows them), else none, and the CA picks its default.
 */
export function defaultProfile(identifiers: readonly OrderIdentifier[], directoryUrl: string): string | undefined {
  if (isLetsEncrypt(directoryUrl) && identifiers.some((i) => i.type === 'ip')) return 'shortlived';
  return undefined;
}

/**
 * Whether the CA's own rules let `profile` issue a certificate for `identifiers`, known before
 * the directory is fetched (Let's Encrypt's rules, by directory URL).
 */
export function checkProfileRules(profile: string | undefined, identifiers: readonly OrderIdentifier[], directoryUrl: string): ProfileRefusal | undefined {
  if (!isLetsEncrypt(directoryUrl)) return undefined;
  const name = profile ?? LETS_ENCRYPT_DEFAULT_PROFILE;
  const rule = LETS_ENCRYPT_PROFILES[name];
  if (!rule) return undefined;
  const ips = identifiers.filter((i) => i.type === 'ip').map((i) => i.value);
  const named = profile ? `profile ${name}` : `profile ${name} (the default when none is named)`;
  if (ips.length > 0 && !rule.ip) {
    const allowing = Object.entries(LETS_ENCRYPT_PROFILES).filter(([, r]) => r.ip).map(([n]) => n);
    return {
      code: 'ProfileNotAllowed',
      message: `Let's Encrypt's ${named} issues no certificates for IP addresses (${ips.join(', ')}); only ${allowing.join(', ')} does`,
      hint: `order the IP addresses with --profile ${allowing[0] ?? 'shortlived'} (${LETS_ENCRYPT_PROFILES[allowing[0] ?? 'shortlived']?.lifetime ?? ''} certificates), or use DNS names`,
    };
  }
  if (identifiers.length > rule.maxNames) {
    return {
      code: 'ProfileNotAllowed',
      message: `Let's Encrypt's ${named} allows at most ${rule.maxNames} names on a certificate; this one has ${identifiers.length}`,
      hint: rule.maxNames < 100 ? `split the names over several certificates of at most ${rule.maxNames}, or use profile classic (up to 100 names)` : `split the names over several certificates of at most ${rule.maxNames}`,
    };
  }
  return undefined;
}

/** Whether the CA offers `profile`, from its directory's meta.profiles. */
export function checkProfileOffered(profile: string | undefined, offered: CaProfiles, directoryUrl: string): ProfileRefusal | undefined {
  if (profile === undefined) return undefined;
  if (offered === undefined || Object.keys(offered).length === 0) {
    return {
      code: 'ProfileUnknown',
      message: `profile "${profile}" was asked for, but the CA at ${directoryUrl} offers no profiles (its directory has no meta.profiles)`,
      hint: 'remove the profile setting (certkeeper.dev/profile, --profile) for this CA; it issues its one kind of certificate',
    };
  }
  if (Object.hasOwn(offered, profile)) return undefined;
  return {
    code: 'ProfileUnknown',
    message: `profile "${profile}" is not offered by the CA at ${directoryUrl}; it offers ${listProfiles(offered)}`,
    hint: `set certkeeper.dev/profile (or --profile) to one of: ${Object.keys(offered).join(', ')}`,
  };
}
