// A reserved key of an e2e stack's config, read by the driver (driver.ts configMap): the secret keys
// (passwords, S3 credentials) it sets without --secret, as a user might by mistake.
export const PLAIN_SECRETS = "__plainSecrets";
