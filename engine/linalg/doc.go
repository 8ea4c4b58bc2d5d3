// Package linalg computes the singular values of dense float64 matrices,
// for the spectra of weight updates (relora-cpu analyze).
//
// # Algorithm
//
// Singular values only, in float64, by the backward-stable route of
// LAPACK's xGESVD without vectors, written here from the textbook
// algorithms (Golub & Van Loan, Matrix Computations, §5.2, §5.4, §8.6):
//
//  1. A tall matrix (rows ≥ 6/5 · columns, after transposing a wide one:
//     the singular values of Aᵀ are those of A) is first reduced to its
//     n×n triangular factor R by Householder QR, blocked: each panel of
//     64 columns is factored column by column, its reflectors are
//     gathered into the compact WY form I − V·T·Vᵀ, and the rest of the
//     matrix is updated by two matrix products, which do almost all of
//     the work.
//  2. Householder bidiagonalization (Golub-Kahan) of R (or of the matrix
//     itself when it is nearly square): alternating left and right
//     reflectors leave an upper bidiagonal B with the same singular
//     values. The right reflector of step k and the left one of step k+1
//     are applied in one pass over the trailing columns.
//  3. The singular values of B are the positive eigenvalues of the 2n×2n
//     Golub-Kahan tridiagonal matrix (zero diagonal, off-diagonal d₁, e₁,
//     d₂, e₂, …), found by bisection with Sturm counts, four values at a
//     time. Bisection on this matrix determines every singular value of
//     B to high relative accuracy (Demmel & Kahan 1990).
//
// Every step is an orthogonal transformation applied in floating point,
// so the computed values are those of A + E with ‖E‖₂ ≤ c·n·ε·‖A‖₂
// (ε = 2⁻⁵³): each σᵢ is within about n·ε·σ₁ of the truth, and its
// relative error is of order n·ε·σ₁/σᵢ. Singular values down to 10⁻¹⁰·σ₁
// come out to better than 10⁻⁴ relative.
//
// The alternative, the eigenvalues of the Gram matrix AᵀA, costs about
// half the flops but squares the condition: the eigenvalue σᵢ² is known
// only to n·ε·σ₁², so σᵢ only to n·ε·σ₁²/σᵢ absolute, and nothing below
// about √(n·ε)·σ₁ ≈ 10⁻⁶·σ₁ (n = 2048) is resolved at all. The spectra of
// low-rank updates are exactly about the values far below σ₁ (the
// round-off tail of a rank-r update sits near 10⁻⁷·σ₁), so the Gram
// route is not used.
//
// The work is spread over a sched.Pool: the trailing updates of both
// reductions split their columns, bisection splits the values.
package linalg
