// naming_storage.cpp — the name server's storage back ends: memory and SQLite.
// Mirrors Pyro5's nameserver.MemoryStorage and SqlStorage (and Pyro4's naming_storage): the same
// SQLite schema, migration, queries and error texts, so a file moves freely between a Python
// name server and ours.
#include <algorithm>
#include <list>
#include <sqlite3.h>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "pyro/naming.hpp"

namespace pyro {

namespace {

bool has_tag(const Registration& registration, const std::string& tag) {
  return std::find(registration.metadata.begin(), registration.metadata.end(), tag) !=
         registration.metadata.end();
}

// The filters of Pyro's NameServer.yplookup, as the name server applies them to everything():
// `all` non-empty wins (a subset test), else `any` (a non-empty intersection), else nothing.
bool matches_metadata(const Registration& registration, const std::vector<std::string>& all,
                      const std::vector<std::string>& any) {
  if (!all.empty()) {
    return std::all_of(all.begin(), all.end(),
                       [&](const std::string& tag) { return has_tag(registration, tag); });
  }
  return std::any_of(any.begin(), any.end(),
                     [&](const std::string& tag) { return has_tag(registration, tag); });
}

std::vector<std::string> unique_tags(std::vector<std::string> tags) {
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return tags;
}

// =============================================================================================
// Memory: a Python dict
// =============================================================================================

// Insertion-ordered like a dict: a list holds the entries in order and a hash index points into
// it, keyed by views of the names the list nodes own (list nodes never move). Replacing a value
// keeps its place; removing and adding again moves the name to the end. Every operation is O(1)
// on average except everything() and the filters, which are linear.
class MemoryStorage final : public NameStorage {
 public:
  std::optional<Registration> get(const std::string& name) override {
    const auto it = index_.find(name);
    if (it == index_.end()) return std::nullopt;
    return it->second->second;
  }

  bool contains(const std::string& name) override { return index_.contains(name); }

  void put(const std::string& name, const Registration& registration) override {
    const auto it = index_.find(name);
    if (it != index_.end()) {
      it->second->second = registration;
      return;
    }
    entries_.emplace_back(name, registration);
    const auto node = std::prev(entries_.end());
    index_.emplace(std::string_view(node->first), node);
  }

  bool remove(const std::string& name) override {
    const auto it = index_.find(name);
    if (it == index_.end()) return false;
    const auto node = it->second;
    index_.erase(it);  // first: its key views the node's name
    entries_.erase(node);
    return true;
  }

  void remove_all(const std::vector<std::string>& names) override {
    for (const auto& name : names)
      remove(name);
  }

  std::size_t size() override { return index_.size(); }

  Entries everything() override { return Entries(entries_.begin(), entries_.end()); }

  // Pyro's MemoryStorage has no fast paths; the name server then filters with str.startswith
  // and set operations. Doing the same here spares copying the entries that do not match.
  std::optional<Entries> prefix_list(const std::string& prefix) override {
    Entries result;
    for (const auto& entry : entries_) {
      if (entry.first.starts_with(prefix)) result.push_back(entry);
    }
    return result;
  }

  std::optional<Entries> metadata_search(const std::vector<std::string>& all,
                                         const std::vector<std::string>& any) override {
    Entries result;
    for (const auto& entry : entries_) {
      if (matches_metadata(entry.second, all, any)) result.push_back(entry);
    }
    return result;
  }

 private:
  using List = std::list<std::pair<std::string, Registration>>;
  List entries_;
  std::unordered_map<std::string_view, List::iterator> index_;
};

// =============================================================================================
// SQLite
// =============================================================================================

// Pyro's schema, character for character what SqlStorage._create_schema executes (apart from
// white space), so that Python's and our files cannot be told apart.
constexpr const char* create_names_table =
    "CREATE TABLE pyro_names (id integer PRIMARY KEY, name nvarchar NOT NULL UNIQUE, "
    "uri nvarchar NOT NULL)";
constexpr const char* create_metadata_table =
    "CREATE TABLE pyro_metadata (object integer NOT NULL, metadata nvarchar NOT NULL, "
    "FOREIGN KEY(object) REFERENCES pyro_names(id))";
// Not Pyro's, and the only thing we add to a file: an index on the foreign key. Without it every
// lookup of a name's tags and every delete of a name (the foreign key check) scans the whole
// pyro_metadata table. Python Pyro neither needs nor minds it.
constexpr const char* create_metadata_index =
    "CREATE INDEX IF NOT EXISTS pyro_metadata_object ON pyro_metadata(object)";

// One column list for every query that returns entries: rows come grouped by name, in id order,
// with one row per tag (a NULL tag for a name without tags).
constexpr const char* select_entries =
    "SELECT n.id, n.name, n.uri, m.metadata FROM pyro_names n "
    "LEFT JOIN pyro_metadata m ON m.object = n.id ";

class SqlError : public std::exception {};  // the message is the connection's errmsg

// A prepared statement; reset (and its bindings cleared) whenever a Use of it ends, so that no
// statement keeps a read transaction open between calls.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, const std::string& sql, bool persistent) {
    const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;
    if (sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), flags, &stmt_, nullptr) !=
        SQLITE_OK) {
      throw SqlError();
    }
  }
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    std::swap(stmt_, other.stmt_);
    return *this;
  }
  ~Statement() { sqlite3_finalize(stmt_); }

  sqlite3_stmt* get() const noexcept { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// One execution of a statement: bind, step, read columns; resets the statement when done.
class Use {
 public:
  explicit Use(const Statement& statement) : stmt_(statement.get()) {}
  ~Use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  Use& bind(int index, const std::string& text) {
    check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }
  Use& bind(int index, sqlite3_int64 number) {
    check(sqlite3_bind_int64(stmt_, index, number));
    return *this;
  }
  // Whether a row came.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqlError();
  }
  void run() {
    while (step()) {
    }
  }
  sqlite3_int64 integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    const int size = sqlite3_column_bytes(stmt_, column);
    return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
  }

 private:
  static void check(int rc) {
    if (rc != SQLITE_OK) throw SqlError();
  }
  sqlite3_stmt* stmt_;
};

// Pyro's SqlStorage with one connection kept open and its statements prepared once. Durability:
// WAL journal with synchronous=NORMAL, so a put() that returned survives the process being
// killed (the commit is in the WAL file, which the OS holds); surviving a power loss as well
// would need synchronous=FULL (an fsync per commit). Thread safety: thread-compatible; the
// connection is opened without SQLite's mutex (SQLITE_OPEN_NOMUTEX), so calls may come from
// different threads as long as they do not overlap, which the name server's lock ensures.
class SqlStorage final : public NameStorage {
 public:
  explicit SqlStorage(const std::string& file) {
    if (file == ":memory:") {
      throw ValueError(
          "We don't support the sqlite :memory: database type. Just use the default volatile "
          "in-memory store.");
    }
    const int rc =
        sqlite3_open_v2(file.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      // db_ may be a handle that only carries the error, or null when out of memory.
      const std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      close();
      throw NamingError("sqlite error in open: " + reason);
    }
    try {
      guarded("open", [&] { initialize(); });
    } catch (...) {
      close();
      throw;
    }
  }
  ~SqlStorage() override { close(); }

  std::optional<Registration> get(const std::string& name) override {
    return guarded("getitem", [&]() -> std::optional<Registration> {
      Use use(get_);
      use.bind(1, name);
      if (!use.step()) return std::nullopt;
      Registration registration;
      registration.uri = use.text(2);
      do {
        if (!use.null(3)) registration.metadata.push_back(use.text(3));
      } while (use.step());
      return registration;
    });
  }

  bool contains(const std::string& name) override {
    return guarded("contains", [&] {
      Use use(contains_);
      use.bind(1, name);
      return use.step();
    });
  }

  void put(const std::string& name, const Registration& registration) override {
    guarded("setitem", [&] {
      Use(begin_).run();
      delete_locked(name);
      {
        Use insert(insert_name_);
        insert.bind(1, name).bind(2, registration.uri).run();
      }
      const sqlite3_int64 id = sqlite3_last_insert_rowid(db_);
      // One row per tag; a repeated tag would break the row count of metadata_search's `all`.
      std::unordered_set<std::string_view> seen;
      for (const auto& tag : registration.metadata) {
        if (!seen.insert(tag).second) continue;
        Use insert(insert_tag_);
        insert.bind(1, id).bind(2, tag).run();
      }
      Use(commit_).run();
    });
  }

  bool remove(const std::string& name) override {
    return guarded("delitem", [&] {
      Use(begin_).run();
      const bool removed = delete_locked(name);
      Use(commit_).run();
      return removed;
    });
  }

  void remove_all(const std::vector<std::string>& names) override {
    guarded("remove_items", [&] {
      Use(begin_).run();
      for (const auto& name : names)
        delete_locked(name);
      Use(commit_).run();
    });
  }

  std::size_t size() override {
    return guarded("len", [&] {
      Use use(count_);
      use.step();
      return static_cast<std::size_t>(use.integer(0));
    });
  }

  Entries everything() override {
    return guarded("everything", [&] {
      Use use(everything_);
      return collect(use);
    });
  }

  // Pyro's quirk, kept: LIKE, so ASCII letters match either case and '_' and '%' in the prefix
  // are wildcards.
  std::optional<Entries> prefix_list(const std::string& prefix) override {
    return guarded("optimized_prefix_list", [&] {
      Use use(prefix_list_);
      use.bind(1, prefix + '%');
      return collect(use);
    });
  }

  // Pyro's queries: `any` selects the names having a tag IN the list; `all` groups the matching
  // tag rows by name and keeps the groups with as many rows as tags asked for. The tags asked
  // for are made unique first, as Pyro's name server would have them in a set.
  std::optional<Entries> metadata_search(const std::vector<std::string>& all,
                                         const std::vector<std::string>& any) override {
    return guarded("optimized_metadata_search", [&] {
      const bool want_all = !all.empty();
      const auto tags = unique_tags(want_all ? all : any);
      if (tags.empty()) return Entries{};
      std::string sql = std::string(select_entries) +
                        "WHERE n.id IN (SELECT object FROM pyro_metadata WHERE metadata IN (";
      for (std::size_t i = 0; i < tags.size(); ++i)
        sql += i ? ",?" : "?";
      sql += want_all ? ") GROUP BY object HAVING COUNT(metadata)=?)" : "))";
      sql += " ORDER BY n.id";
      const Statement statement(db_, sql, false);
      Use use(statement);
      int index = 1;
      for (const auto& tag : tags)
        use.bind(index++, tag);
      if (want_all) use.bind(index, static_cast<sqlite3_int64>(tags.size()));
      return collect(use);
    });
  }

  void close() override {
    if (db_ == nullptr) return;
    for (Statement* statement : statements())
      *statement = Statement();
    sqlite3_close(db_);  // the last connection to close checkpoints and removes the WAL file
    db_ = nullptr;
  }

 private:
  // Runs one storage operation; an SQLite failure rolls back the open transaction, if any, and
  // becomes NamingError("sqlite error in <operation>: <message>") as in Pyro.
  template <typename F>
  auto guarded(const char* operation, F&& body) -> decltype(body()) {
    if (db_ == nullptr) throw NamingError(std::string("sqlite error in ") + operation + ": closed");
    try {
      return body();
    } catch (const SqlError&) {
      const std::string reason = sqlite3_errmsg(db_);
      if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw NamingError(std::string("sqlite error in ") + operation + ": " + reason);
    }
  }

  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw SqlError();
  }

  bool table_exists(const char* table) {
    const Statement statement(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                              false);
    Use use(statement);
    return use.bind(1, std::string(table)).step();
  }

  // SqlStorage.__init__: create the schema, or migrate a file that predates the metadata table
  // (rename the old table, create both, copy name and uri, drop the old one), in one transaction.
  void initialize() {
    sqlite3_busy_timeout(db_, 5000);  // Python's sqlite3.connect default
    exec("PRAGMA foreign_keys=ON");
    exec("PRAGMA journal_mode=WAL");  // persistent in the file; readers never block the writer
    exec("PRAGMA synchronous=NORMAL");
    exec("BEGIN IMMEDIATE");
    if (!table_exists("pyro_names")) {
      exec(create_names_table);
      exec(create_metadata_table);  // fails, as Pyro's does, if only pyro_metadata exists
    } else if (!table_exists("pyro_metadata")) {
      exec("ALTER TABLE pyro_names RENAME TO pyro_names_old");
      exec(create_names_table);
      exec(create_metadata_table);
      exec("INSERT INTO pyro_names(name, uri) SELECT name, uri FROM pyro_names_old");
      exec("DROP TABLE pyro_names_old");
    }
    exec(create_metadata_index);
    exec("COMMIT");

    const auto prepare = [&](const std::string& sql) { return Statement(db_, sql, true); };
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
    get_ = prepare(std::string(select_entries) + "WHERE n.name=?");
    contains_ = prepare("SELECT 1 FROM pyro_names WHERE name=?");
    delete_tags_ = prepare(
        "DELETE FROM pyro_metadata WHERE object IN (SELECT id FROM pyro_names WHERE name=?)");
    delete_name_ = prepare("DELETE FROM pyro_names WHERE name=?");
    insert_name_ = prepare("INSERT INTO pyro_names(name, uri) VALUES(?,?)");
    insert_tag_ = prepare("INSERT INTO pyro_metadata(object, metadata) VALUES(?,?)");
    count_ = prepare("SELECT count(*) FROM pyro_names");
    everything_ = prepare(std::string(select_entries) + "ORDER BY n.id");
    prefix_list_ = prepare(std::string(select_entries) + "WHERE n.name LIKE ? ORDER BY n.id");
  }

  // Deletes a name and its tags (tags first: the foreign key); caller holds a transaction.
  bool delete_locked(const std::string& name) {
    Use(delete_tags_).bind(1, name).run();
    Use(delete_name_).bind(1, name).run();
    return sqlite3_changes(db_) > 0;
  }

  // Folds the rows of a select_entries query (grouped by id) into entries.
  static Entries collect(Use& use) {
    Entries entries;
    sqlite3_int64 current = 0;
    while (use.step()) {
      const sqlite3_int64 id = use.integer(0);
      if (entries.empty() || id != current) {
        entries.emplace_back(use.text(1), Registration{});
        entries.back().second.uri = use.text(2);
        current = id;
      }
      if (!use.null(3)) entries.back().second.metadata.push_back(use.text(3));
    }
    return entries;
  }

  std::vector<Statement*> statements() {
    return {&begin_,       &commit_,     &get_,   &contains_,   &delete_tags_, &delete_name_,
            &insert_name_, &insert_tag_, &count_, &everything_, &prefix_list_};
  }

  sqlite3* db_ = nullptr;
  Statement begin_, commit_, get_, contains_, delete_tags_, delete_name_, insert_name_, insert_tag_,
      count_, everything_, prefix_list_;
};

}  // namespace

// =============================================================================================
// Factories
// =============================================================================================

std::unique_ptr<NameStorage> make_memory_storage() {
  return std::make_unique<MemoryStorage>();
}

std::unique_ptr<NameStorage> make_sql_storage(const std::string& file) {
  return std::make_unique<SqlStorage>(file);
}

// Pyro's NameServerDaemon.__init__: an empty spec means memory too (`storage or "memory"`).
std::unique_ptr<NameStorage> open_storage(std::string_view spec) {
  if (spec.empty() || spec == "memory") return make_memory_storage();
  if (spec.starts_with("sql:") && spec.size() > 4) {
    return make_sql_storage(std::string(spec.substr(4)));
  }
  throw ValueError("invalid storage type '" + std::string(spec) + "'");
}

}  // namespace pyro
