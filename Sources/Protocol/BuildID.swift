import Crypto

/// Identifies the trainer a worker runs. A coordinator refuses workers whose build id differs from
/// its own, since different trainer code would make results incomparable.
public enum BuildID {
    /// The first 16 hex digits of SHA-256 over `"<ML contract version>\n<binary version>"`.
    public static func make(contractVersion: String, binaryVersion: String) -> String {
        let digest = SHA256.hash(data: Array("\(contractVersion)\n\(binaryVersion)".utf8))
        return digest.prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
