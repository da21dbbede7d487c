// SPDX-License-Identifier: Apache-2.0
//
// The one way into Boost.Asio (style.md §2.1). Boost 1.74's coroutine header
// needs <utility> before it under GCC 12, so nothing includes <boost/asio...>
// directly. Only the modules allowed to use Asio (cluster, groups, broker,
// server, client, apps) may include this file; it belongs to the separate
// CMake target spate_asio so the pure modules cannot reach it.

#pragma once

#include <utility>  // must precede Asio's coroutine support (GCC 12 + Boost 1.74)

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace spate {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

template <typename T = void>
using awaitable = boost::asio::awaitable<T>;

inline constexpr auto use_awaitable = boost::asio::use_awaitable;
}  // namespace spate
