// The vault in the browser, shared by the test files: the patient's documents section, the doctor's records
// section, and signing in to the vault (SIWE) from either.

/** The patient's documents section of /patient. */
export const documents = (page) => page.getByRole('region', { name: 'Your documents' });

/** The doctor's records section of /doctor. */
export const records = (page) => page.getByRole('region', { name: "Your patients' records" });

/** Signs in to the vault from `region` (the documents or records section) and waits for the session. */
export async function signIn(region) {
  await region.getByRole('button', { name: 'Sign in to the vault' }).click();
  await region.locator('[data-testid="vault-session"][data-signed-in="yes"]').waitFor();
}
