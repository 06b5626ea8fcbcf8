// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title BondVault
/// @notice Pays bonds out push-first: a payment the recipient refuses is credited and can be
///         claimed later, so a recipient that rejects ETH (a contract without a receive function,
///         or one that burns gas) can never hold up a confirmation, a rejection or a game's end.
///         The Rollup (assertion bonds) and the DisputeGame (challenge bonds) both pay this way.
abstract contract BondVault {
    /// @notice Gas forwarded when pushing a bond; ample for a wallet contract's receive function.
    uint256 public constant BOND_PUSH_GAS = 100_000;

    /// @notice Bonds whose push payment failed, claimable with claimBond.
    mapping(address account => uint256 amount) public claimableBonds;

    /// @notice A bond payment was refused by its recipient and kept for claimBond.
    /// @param account The recipient.
    /// @param amount  Wei credited.
    event BondCredited(address indexed account, uint256 amount);

    /// @notice A credited bond was claimed.
    /// @param account The recipient.
    /// @param amount  Wei paid.
    event BondClaimed(address indexed account, uint256 amount);

    /// @notice No credited bond to claim.
    error NothingToClaim();
    /// @notice claimBond could not pay.
    error BondTransferFailed();

    /// @notice Pays out the caller's bonds whose push payment was refused.
    function claimBond() external {
        uint256 amount = claimableBonds[msg.sender];
        if (amount == 0) revert NothingToClaim();
        claimableBonds[msg.sender] = 0;
        emit BondClaimed(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert BondTransferFailed();
    }

    /// @dev Push first; on refusal, credit for claimBond instead of reverting. The gas cap and the
    ///      ignored return data stop a recipient from blocking the caller by burning gas or
    ///      returning a huge buffer.
    function _payBond(address to, uint256 amount) internal {
        if (amount == 0) return;
        bool ok;
        assembly ("memory-safe") {
            ok := call(BOND_PUSH_GAS, to, amount, 0, 0, 0, 0)
        }
        if (!ok) {
            claimableBonds[to] += amount;
            emit BondCredited(to, amount);
        }
    }
}
