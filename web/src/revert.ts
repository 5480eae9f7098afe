// The contracts' custom errors in sentences: the same words as the CLI (src/rx/revert.rs), and one for
// every other error of the ABIs.
type Args = Record<string, unknown>;

const SCHEDULES: Record<number, string> = { 0: 'not controlled', 2: 'schedule II', 3: 'schedule III', 4: 'schedule IV', 5: 'schedule V' };
export const scheduleName = (n: number) => SCHEDULES[n] ?? `invalid schedule ${n}`;

export function timeText(secs: unknown): string {
  const n = Number(secs);
  if (!Number.isFinite(n) || n > 8.64e12) return String(secs);
  return new Date(n * 1000).toISOString().replace('.000Z', '+00:00');
}

const kind = (k: unknown) => (Number(k) === 1 ? 'prescriber' : Number(k) === 2 ? 'pharmacy' : 'credential');
const STATUS = ['active', 'suspended', 'revoked'];
const bits = (n: unknown) => `0b${Number(n).toString(2).padStart(8, '0')}`;

/** The schedules a credential holds, as `medledger_core::schedule::schedules_held` says them. */
function schedulesHeld(n: unknown): string {
  const roman = ['0', 'I', 'II', 'III', 'IV', 'V', '6', '7'];
  const held = roman.filter((_, i) => (Number(n) >> i) & 1);
  if (held.length === 0) return `no schedule (bitmap ${bits(n)})`;
  if (held.length === 1) return `schedule ${held[0]} only (bitmap ${bits(n)})`;
  return `schedules ${held.join(', ')} (bitmap ${bits(n)})`;
}

/** CredentialRegistry's roles by their hash (keccak256 of the name; the admin's is zero). */
const ROLES: Record<string, string> = {
  '0x0000000000000000000000000000000000000000000000000000000000000000': 'admin',
  '0xedcc084d3dcd65a1f7f23c65c46722faca6953d28e43150a467cf43e5c309238': 'registrar',
  '0xc10c77be35aff266144ed64c26a1fa104bae2f284ae99ac4a34203454704a185': 'reviewer',
};
const roleName = (hash: string) => ROLES[hash.toLowerCase()] ?? hash;

const sentences: Record<string, (a: Args) => string> = {
  // Prescriptions (as the CLI says them)
  Prescriptions__CallerNotPrescriber: (a) =>
    `the sender ${a.caller} is not the prescriber ${a.prescriber}: sign with the prescriber's key, or relay a signature`,
  Prescriptions__InvalidSignature: (a) => `invalid signature: it is not ${a.prescriber}'s signature over prescription ${a.rxId}`,
  Prescriptions__ZeroPatient: () => 'the patient is the zero address',
  Prescriptions__InvalidFills: (a) => `${a.fills} fills are not allowed (${scheduleName(Number(a.schedule))}: 1 to ${a.maxFills})`,
  Prescriptions__ZeroQuantityPerFill: () => 'the quantity per fill is 0',
  Prescriptions__InvalidFillWindow: (a) =>
    `the first fill (${timeText(a.earliestFillAt)}) is not before the end of validity (${timeText(a.validUntil)})`,
  Prescriptions__ValidUntilPassed: (a) => `the prescription expired at ${timeText(a.validUntil)} (chain time ${timeText(a.currentTime)})`,
  Prescriptions__InvalidSchedule: (a) => `${a.schedule} is not a valid schedule (0 or 2..5)`,
  Prescriptions__ValidityTooLong: (a) =>
    `a ${scheduleName(Number(a.schedule))} prescription may be valid until ${timeText(a.maxValidUntil)} at the latest, not ${timeText(a.validUntil)}`,
  Prescriptions__ScheduleNotAuthorized: (a) =>
    `prescriber ${a.prescriber} is not authorised for ${scheduleName(Number(a.schedule))} drugs (authorised schedules bitmap ${bits(a.authorizedSchedules)})`,
  Prescriptions__ConsentMissing: (a) =>
    `no consent: patient ${a.patient} has not granted PRESCRIBE to ${a.prescriber} (or it expired or was revoked)`,
  Prescriptions__AlreadyIssued: (a) => `prescription ${a.rxId} is already issued`,
  Prescriptions__UnknownPrescription: (a) => `unknown prescription ${a.rxId}: not issued on this chain`,
  Prescriptions__PrescriptionCancelled: (a) => `prescription ${a.rxId} was cancelled (by its prescriber, its patient or a registrar)`,
  Prescriptions__NotIssuingPrescriber: (a) => `${a.caller} is not the prescriber who issued prescription ${a.rxId}`,
  Prescriptions__NotPatient: (a) => `${a.caller} is not the patient of prescription ${a.rxId}`,
  Prescriptions__PharmacyUnchanged: (a) => `prescription ${a.rxId} already designates pharmacy ${a.pharmacy}`,
  Prescriptions__PrescriptionExpired: (a) =>
    `prescription ${a.rxId} expired at ${timeText(a.validUntil)} (chain time ${timeText(a.currentTime)})`,
  Prescriptions__WrongPharmacy: (a) =>
    `prescription ${a.rxId} designates pharmacy #${a.designatedPharmacyId}, not this pharmacy (#${a.callerPharmacyId})`,
  Prescriptions__ZeroQuantity: (a) => `a dispense of prescription ${a.rxId} must be at least 1 unit`,
  Prescriptions__QuantityExceeded: (a) =>
    `${a.requested} units requested but only ${a.remaining} remain in this fill of prescription ${a.rxId}`,
  Prescriptions__NoFillsRemaining: (a) => `all ${a.fills} fills of prescription ${a.rxId} have been dispensed`,
  Prescriptions__TooEarly: (a) =>
    `the next fill of prescription ${a.rxId} is allowed from ${timeText(a.nextFillAt)} (chain time ${timeText(a.currentTime)})`,
  Prescriptions__StaleDispense: (a) =>
    `prescription ${a.rxId} now has ${a.totalDispensed} units dispensed, not the ${a.dispensedBefore} this dispense was built on: a retried or raced dispense (nothing was counted twice); check the dispenses before sending again`,
  Prescriptions__PrescriberInactive: (a) =>
    `the prescriber ${a.prescriber} of ${a.rxId} is no longer active (revoked, suspended or expired): its prescriptions may not be dispensed`,
  Prescriptions__PrescriberLacksSchedule: (a) =>
    `the prescriber ${a.prescriber} no longer holds ${scheduleName(Number(a.schedule))}: its credential holds ${schedulesHeld(a.schedules)}`,
  Prescriptions__PharmacyLacksSchedule: (a) =>
    `pharmacy ${a.pharmacy} is not registered for ${scheduleName(Number(a.schedule))}: its registration holds ${schedulesHeld(a.schedules)}`,
  Prescriptions__DeadlinePassed: (a) => `the signed terms had to be issued before ${timeText(a.deadline)} (now ${timeText(a.currentTime)})`,
  Prescriptions__WrittenInFuture: (a) => `the date written ${timeText(a.dateWritten)} is after the chain's time ${timeText(a.currentTime)}`,
  Prescriptions__NonceInvalidated: (a) => `the prescriber ${a.prescriber} withdrew signatures with nonces below ${a.nonceFloor} (this one: ${a.nonce})`,
  Prescriptions__InvalidNonceFloor: (a) =>
    `prescriber ${a.prescriber}'s nonce floor is ${a.currentFloor}: a new floor must be above it by at most 4294967295, not ${a.newFloor}`,
  Prescriptions__InvalidDaysSupply: (a) => `a ${scheduleName(Number(a.schedule))} prescription needs a days' supply (got ${a.daysSupply})`,
  Prescriptions__SupplyBeyondNinetyDays: (a) =>
    `a schedule II supply must end by ${timeText(a.maxSupplyEnd)} (90 days after the date written, 21 CFR 1306.12(b)); ${a.daysSupply} days from ${timeText(a.earliestFillAt)} ends later`,
  Prescriptions__FillIntervalTooShort: (a) =>
    `${scheduleName(Number(a.schedule))} refills must be at least ${a.requiredInterval} seconds apart (3/4 of the days' supply), not ${a.minFillInterval}`,
  Prescriptions__LongTermCareNotApplicable: (a) =>
    `long-term care (60-day partial fills, 21 CFR 1306.13(b)) applies to schedule II only, not ${scheduleName(Number(a.schedule))}`,
  Prescriptions__PharmacyRequired: (a) =>
    `a ${scheduleName(Number(a.schedule))} prescription must name its pharmacy`,
  Prescriptions__NotRegistrar: (a) => `${a.caller} is not a registrar of the CredentialRegistry: only a registrar may void prescription ${a.rxId}`,
  Prescriptions__AlreadyTransferred: (a) =>
    `prescription ${a.rxId} was already transferred once between pharmacies (21 CFR 1306.08(e), 1306.25)`,
  Prescriptions__TransferAfterFill: (a) =>
    `schedule II prescription ${a.rxId} may be transferred only before it is filled (21 CFR 1306.08(e))`,
  Prescriptions__ShortSupplyNotApplicable: (a) =>
    `a short-supply partial fill opens a schedule II fill with less than its quantity; prescription ${a.rxId} is ${scheduleName(Number(a.schedule))} or its fill is already open`,
  // OpenZeppelin's ShortStrings errors (Prescriptions, ConsentRegistry), raised only by a constructor.
  InvalidShortString: () => "the contract's EIP-712 domain name is malformed (a deployment error)",
  StringTooLong: () => "the contract's EIP-712 domain name is malformed (a deployment error)",
  // CredentialRegistry
  CredentialRegistry__NotRegistered: (a) => `${a.account} has no credential`,
  CredentialRegistry__NotActive: (a) =>
    `${a.account} is not an active ${kind(a.kind)} (no credential, suspended, expired or revoked)`,
  CredentialRegistry__CredentialRevoked: (a) => `the credential ${a.id} of ${a.account} is revoked`,
  CredentialRegistry__ZeroAccount: () => 'the account is the zero address',
  CredentialRegistry__AlreadyRegistered: (a) => `${a.account} already holds credential #${a.id}: renew or change it instead`,
  CredentialRegistry__InvalidKind: (a) => `${a.kind} is not a credential kind (prescriber or pharmacy)`,
  CredentialRegistry__ZeroLicenseHash: (a) => `the license hash of ${a.account} is empty`,
  CredentialRegistry__ZeroJurisdiction: (a) => `the jurisdiction of ${a.account} is empty`,
  CredentialRegistry__InvalidExpiry: (a) =>
    `the expiry ${timeText(a.expiresAt)} of ${a.account}'s credential is not in the future (chain time ${timeText(a.currentTime)})`,
  CredentialRegistry__InvalidSchedules: (a) =>
    `schedules ${bits(a.schedules)} are not valid for a ${kind(a.kind)} (${a.account}): only bits 2 to 5 (schedules II to V)`,
  CredentialRegistry__InvalidStatus: (a) => `the credential of ${a.account} is ${STATUS[Number(a.status)] ?? a.status}: that change does not apply`,
  CredentialRegistry__RegistrarNeedsProposal: (a) =>
    `${a.account} can be made a registrar only by a proposal, then an appointment once the admin delay has passed`,
  CredentialRegistry__RegistrarNotReady: (a) =>
    Number(a.readyAt) === 0
      ? `${a.account} was not proposed as a registrar: propose it first`
      : `${a.account} can be appointed registrar from ${timeText(a.readyAt)} (chain time ${timeText(a.currentTime)})`,
  CredentialRegistry__RegistrarAlreadyProposed: (a) => `${a.account} already is a registrar or has a pending proposal`,
  AccessControlBadConfirmation: () => 'only the account itself may renounce its role',
  AccessControlEnforcedDefaultAdminDelay: (a) => `the admin transfer is not ready: it waits until ${timeText(a.schedule)}`,
  AccessControlEnforcedDefaultAdminRules: () => 'the admin role changes only by a delayed transfer (begin, then accept)',
  AccessControlInvalidDefaultAdmin: (a) => `${a.defaultAdmin} may not accept the admin role: it is not the pending admin`,
  SafeCastOverflowedUintDowncast: (a) => `the value ${a.value} does not fit in ${a.bits} bits`,
  AccessControlUnauthorizedAccount: (a) => `${a.account} lacks the ${roleName(String(a.neededRole))} role this needs`,
  // ConsentRegistry
  ConsentRegistry__NoConsent: (a) => `no consent: patient ${a.patient} has not granted ${a.grantee} access`,
  ConsentRegistry__InvalidGrantee: (a) => `${a.grantee} cannot be granted access by ${a.patient} (the zero address or the patient herself)`,
  ConsentRegistry__InvalidScopes: (a) => `scopes ${bits(a.scopes)} are not valid: choose at least one of read, write, prescribe`,
  ConsentRegistry__InvalidExpiry: (a) => `the expiry ${timeText(a.expiresAt)} is not in the future (chain time ${timeText(a.currentTime)})`,
  ConsentRegistry__SignatureExpired: (a) => `the signature expired at ${timeText(a.deadline)} (chain time ${timeText(a.currentTime)})`,
  ConsentRegistry__InvalidSignature: (a) => `invalid signature: it is not ${a.patient}'s signature over these terms (or its nonce was used or burnt)`,
  ConsentRegistry__InvalidEmergencyDuration: (a) => `emergency access of ${a.duration} s is not allowed (1 s to ${a.maxDuration} s)`,
  ConsentRegistry__NoEmergencyAccess: (a) => `${a.grantee} has no open emergency access to ${a.patient}'s records`,
  ConsentRegistry__NotPatientOrGrantee: (a) => `${a.caller} is neither the patient ${a.patient} nor the grantee ${a.grantee}`,
  ConsentRegistry__SignatureSuperseded: (a) =>
    `the signature of ${timeText(a.signedAt)} is superseded: ${a.patient} changed ${a.grantee}'s access directly at ${timeText(a.directChangeAt)}`,
  ConsentRegistry__SignedInFuture: (a) => `the signature claims ${timeText(a.signedAt)}, after the chain's time ${timeText(a.currentTime)}`,
  ConsentRegistry__JustificationMissing: (a) =>
    `emergency access needs a reason code and the hash of a written justification (reason ${a.reasonCode}, hash ${a.justificationHash})`,
  ConsentRegistry__EmergencyAccessAlreadyOpen: (a) =>
    `${a.grantee}'s emergency access to ${a.patient}'s records is already open until ${timeText(a.emergencyUntil)}: it cannot be extended by opening it again`,
  ConsentRegistry__EmergencyAccessCooldown: (a) =>
    `${a.grantee} cannot open emergency access to ${a.patient}'s records again before ${timeText(a.availableAt)} (7 days after the previous one ended)`,
  ConsentRegistry__EmergencyAccessBlocked: (a) => `patient ${a.patient} has blocked ${a.grantee} from emergency access to her records`,
  ConsentRegistry__BlockUnchanged: (a) => `${a.grantee} is already ${a.blocked ? 'on' : 'off'} ${a.patient}'s emergency-access block list`,
  ConsentRegistry__NotReviewer: (a) => `${a.caller} is not a reviewer: only a reviewer may flag an emergency access`,
  ConsentRegistry__NoEmergencyUse: (a) => `${a.grantee} never had emergency access to ${a.patient}'s records: there is nothing to flag`,
  ConsentRegistry__ZeroFindingCode: () => 'a flag needs a non-zero finding code',
  ConsentRegistry__InvalidNonce: (a) =>
    `nonce ${a.newNonce} cannot replace ${a.currentNonce} for ${a.patient}: it must be larger, by a bounded step`,
  // RecordAnchors
  RecordAnchors__ZeroPatient: () => 'the patient is the zero address',
  RecordAnchors__NotAuthorized: (a) => `${a.caller} may not write ${a.patient}'s records (no WRITE consent)`,
  RecordAnchors__UnknownEpisode: (a) => `episode ${a.episodeId} does not exist`,
  RecordAnchors__EpisodeClosed: (a) => `episode ${a.episodeId} is closed`,
  RecordAnchors__ZeroContentHash: (a) => `the record's content hash is empty (episode ${a.episodeId})`,
  RecordAnchors__NotPatient: (a) => `${a.caller} is not the patient ${a.patient}: only she may hide or show her records`,
  RecordAnchors__UnknownRecord: (a) => `episode ${a.episodeId} has ${a.recordCount} records: there is no record ${a.index}`,
  RecordAnchors__VisibilityUnchanged: (a) => `record ${a.index} of episode ${a.episodeId} is already ${a.hidden ? 'hidden' : 'shown'}`,
};

/** A sentence for a decoded custom error (its name and arguments by name). */
export function explainError(name: string, args: Args): string {
  const s = sentences[name];
  return s ? s(args) : `the contract refused: ${name}(${Object.values(args).map(String).join(', ')})`;
}
