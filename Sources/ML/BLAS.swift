import COpenBLAS
import Vocabulary

/// The few OpenBLAS routines the trainer needs, row-major, over raw buffers.
///
/// Every matrix is row-major with an explicit leading dimension (the distance in elements between
/// the starts of two consecutive rows), as in `cblas_sgemm` with `CblasRowMajor`.
public enum BLAS {
    /// OpenBLAS starts with a thread per core; here every call runs on its caller's thread (the
    /// model and the neighbour search split their work themselves), so the first use of this
    /// enum sets one thread, once, before any call. Setting it again while another thread was
    /// inside a threaded call deadlocked OpenBLAS 0.3.21 (a test's sgemm spun in `exec_blas`
    /// forever while the worker it waited for slept), so only an explicit ``setThreads(_:)``
    /// changes it later.
    private static let callsRunOnTheCallersThread: Void = openblas_set_num_threads(1)

    /// Whether a matrix operand is used as stored or transposed.
    public enum Transpose: Sendable {
        case none, transpose

        var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
    }

    /// C ← alpha·op(A)·op(B) + beta·C, where op(A) is m×k, op(B) is k×n and C is m×n.
    ///
    /// - Parameters:
    ///   - lda: leading dimension of A as stored (k for an untransposed m×k A, m for a transposed one).
    ///   - ldb: leading dimension of B as stored.
    ///   - ldc: leading dimension of C (at least n).
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = callsRunOnTheCallersThread
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y ← alpha·A·x + beta·y for a row-major m×n A (or Aᵀ when `trans` is `.transpose`).
    public static func sgemv(
        _ trans: Transpose, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        _ = callsRunOnTheCallersThread
        cblas_sgemv(CblasRowMajor, trans.cblas, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// y ← alpha·x + y over `count` elements.
    public static func saxpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        _ = callsRunOnTheCallersThread
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    /// x ← alpha·x over `count` elements.
    public static func sscal(count: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        _ = callsRunOnTheCallersThread
        cblas_sscal(Int32(count), alpha, x, 1)
    }

    /// Σ xᵢ·yᵢ over `count` elements.
    public static func sdot(count: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        _ = callsRunOnTheCallersThread
        return cblas_sdot(Int32(count), x, 1, y, 1)
    }

    /// The Euclidean norm of `count` elements.
    public static func snrm2(count: Int, x: UnsafePointer<Float>) -> Float {
        _ = callsRunOnTheCallersThread
        return cblas_snrm2(Int32(count), x, 1)
    }

    // MARK: Double precision, column-major (the samplers' Gaussian process)

    /// Overwrites the lower triangle of a column-major n×n symmetric positive definite matrix with
    /// its Cholesky factor L (A = L·Lᵀ; LAPACK's `dpotrf`); false when A is not positive definite.
    public static func choleskyFactor(n: Int, a: UnsafeMutablePointer<Double>) -> Bool {
        _ = callsRunOnTheCallersThread
        var size = Int32(n), info: Int32 = 0
        dpotrf_("L", &size, a, &size, &info)
        return info == 0
    }

    /// B ← A⁻¹·B for `columns` right-hand sides (column-major n×columns), from A's factor (`dpotrs`).
    public static func choleskySolve(n: Int, columns: Int, factor: UnsafePointer<Double>, b: UnsafeMutablePointer<Double>) {
        _ = callsRunOnTheCallersThread
        var size = Int32(n), count = Int32(columns), info: Int32 = 0
        dpotrs_("L", &size, &count, factor, &size, b, &size, &info)
    }

    /// Overwrites a factor's lower triangle with that of A⁻¹ (`dpotri`); false when it fails.
    public static func choleskyInverse(n: Int, a: UnsafeMutablePointer<Double>) -> Bool {
        _ = callsRunOnTheCallersThread
        var size = Int32(n), info: Int32 = 0
        dpotri_("L", &size, a, &size, &info)
        return info == 0
    }

    /// B ← L⁻¹·B for a lower triangular column-major n×n L and column-major n×columns B (`dtrsm`).
    public static func lowerSolve(n: Int, columns: Int, l: UnsafePointer<Double>, b: UnsafeMutablePointer<Double>) {
        _ = callsRunOnTheCallersThread
        cblas_dtrsm(
            CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(n), Int32(columns), 1, l, Int32(n), b, Int32(n))
    }

    /// y ← Aᵀ·x for a column-major n×m A (`dgemv`).
    public static func transposedProduct(
        n: Int, m: Int, a: UnsafePointer<Double>, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>
    ) {
        _ = callsRunOnTheCallersThread
        cblas_dgemv(CblasColMajor, CblasTrans, Int32(n), Int32(m), 1, a, Int32(n), x, 1, 0, y, 1)
    }

    /// The number of threads OpenBLAS uses for each call.
    public static var threads: Int {
        _ = callsRunOnTheCallersThread
        return Int(openblas_get_num_threads())
    }

    /// Sets the number of threads OpenBLAS uses for each call (process-wide).
    public static func setThreads(_ count: Int) {
        _ = callsRunOnTheCallersThread
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The OpenBLAS kernel family in use, e.g. `"Haswell"` or `"SkylakeX"`.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}
