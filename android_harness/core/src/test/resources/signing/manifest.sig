{
  "algorithm": "ed25519",
  "key_id": "ed25519:52d3c7a806fb8a63a124f5a1e24cc9abb4e6bbaab6f9a26c7485f0a661f99898",
  "manifest_sha256": "c558953edbb4085322253a9b849fdf42682d36a235c95eee0ae8d75a73511ccd",
  "signature": "j8Z6CG6dyAyTIOr64rEWY4nJSWw/Fl3mm+dGDv11BiWEduamUYgPX/zhxKounzdQJ4gBGxEzYFLsunMmGF4UBw=="
}
