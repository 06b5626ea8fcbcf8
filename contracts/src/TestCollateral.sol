// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestCollateral
/// @notice "Veridex Test USD" (vUSD): the collateral token of devnets and testnets, a plain
///         6-decimal ERC-20 standing in for USDC (docs/protocol.md §1).
/// @dev TEST TOKEN ONLY: anyone can mint any amount, so it is worthless by design. A production
///      deployment would point the Bridge at a real stablecoin instead.
contract TestCollateral is ERC20 {
    /// @notice Minted tokens out of thin air (the faucet).
    /// @param to     Recipient.
    /// @param amount Base units (1e-6 vUSD).
    event Minted(address indexed to, uint256 amount);

    constructor() ERC20("Veridex Test USD", "vUSD") {}

    /// @notice Token base units per vUSD are 1e6, like USDC.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Faucet: mints `amount` base units to `to`. Open to anyone on purpose.
    /// @param to     Recipient.
    /// @param amount Base units (1e-6 vUSD).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
        emit Minted(to, amount);
    }
}
