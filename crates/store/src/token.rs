//! Webhook URL tokens: 32 random bytes, base64url; only a SHA-256 hash is stored.
//! (to be written: WebhookToken::generate, as_str, hash; TokenHash::of(&str) -> TokenHash)
