// naming_storage_test.cpp — the name server's storage back ends (naming.hpp: NameStorage,
// make_memory_storage, make_sql_storage, open_storage): dict semantics in memory, Pyro's SQLite
// schema and queries, files shared with Python Pyro4's SqlStorage, durability under kill -9.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "pyro/errors.hpp"
#include "pyro/naming.hpp"

namespace {

namespace fs = std::filesystem;
using pyro::NameStorage;
using pyro::Registration;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// A fresh directory under the system's temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("pyrocpp-naming-storage-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

Registration reg(std::string uri, std::vector<std::string> tags = {}, bool frozen = false) {
  Registration r;
  r.uri = std::move(uri);
  r.metadata = std::move(tags);
  r.frozen = frozen;
  return r;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> names_of(const NameStorage::Entries& entries) {
  std::vector<std::string> names;
  for (const auto& [name, registration] : entries)
    names.push_back(name);
  return names;
}

// A raw SQLite connection, for looking at and tampering with a file behind the storage's back.
class Database {
 public:
  explicit Database(const std::string& file) {
    if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << file << ": " << sqlite3_errmsg(db_);
    }
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (error ? error : "?");
    }
    sqlite3_free(error);
  }

  // The rows of a query, each row's columns joined with '|' (NULL as "NULL").
  std::vector<std::string> rows(const std::string& sql) {
    std::vector<std::string> result;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return result;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        if (i) row += '|';
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        row += text ? text : "NULL";
      }
      result.push_back(row);
    }
    sqlite3_finalize(stmt);
    return result;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Runs a program to completion (killed after `limit`); its exit status (-1 when it did not exit
// normally) and standard output. Standard error goes to the test's, to be seen on failure.
struct Completed {
  int status = -1;
  std::string output;
};

Completed run(std::vector<std::string> argv,
              std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  Completed result;
  int out[2];
  if (::pipe(out) != 0) return result;
  const pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!timed_out && WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

constexpr const char* python = "/usr/bin/python3";

Completed run_python(const std::string& script, const std::string& file) {
  return run({python, "-c", script, file});
}

bool pyro4_available() {
  static const bool available =
      ::access(python, X_OK) == 0 && run({python, "-c", "import Pyro4.naming_storage"}).status == 0;
  return available;
}

// ---------------------------------------------------------------------------------------------
// Both back ends
// ---------------------------------------------------------------------------------------------

class NameStorageTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    storage_ = GetParam() == "memory" ? pyro::make_memory_storage()
                                      : pyro::make_sql_storage(dir_.file("names.sqlite"));
  }

  TempDir dir_;
  std::unique_ptr<NameStorage> storage_;
};

INSTANTIATE_TEST_SUITE_P(Backends, NameStorageTest, ::testing::Values("memory", "sql"),
                         [](const auto& info) { return info.param; });

TEST_P(NameStorageTest, GetsWhatWasPut) {
  storage_->put("example.greeting", reg("PYRO:obj_1@localhost:9090", {"class:Greeter", "x"}));
  const auto found = storage_->get("example.greeting");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->uri, "PYRO:obj_1@localhost:9090");
  EXPECT_EQ(sorted(found->metadata), (std::vector<std::string>{"class:Greeter", "x"}));
  EXPECT_FALSE(found->frozen);
}

TEST_P(NameStorageTest, GetOfUnknownNameIsEmpty) {
  storage_->put("a", reg("PYRO:a@h:1"));
  EXPECT_FALSE(storage_->get("b").has_value());
  EXPECT_FALSE(storage_->get("A").has_value());
}

TEST_P(NameStorageTest, ContainsTellsWhetherANameIsRegistered) {
  EXPECT_FALSE(storage_->contains("a"));
  storage_->put("a", reg("PYRO:a@h:1"));
  EXPECT_TRUE(storage_->contains("a"));
  EXPECT_FALSE(storage_->contains("a.b"));
}

TEST_P(NameStorageTest, PutReplacesUriAndTags) {
  storage_->put("a", reg("PYRO:a@h:1", {"old", "both"}));
  storage_->put("a", reg("PYRO:a@h:2", {"both", "new"}));
  EXPECT_EQ(storage_->size(), 1u);
  const auto found = storage_->get("a");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->uri, "PYRO:a@h:2");
  EXPECT_EQ(sorted(found->metadata), (std::vector<std::string>{"both", "new"}));
}

TEST_P(NameStorageTest, RemoveTellsWhetherTheNameWasThere) {
  storage_->put("a", reg("PYRO:a@h:1", {"t"}));
  EXPECT_TRUE(storage_->remove("a"));
  EXPECT_FALSE(storage_->remove("a"));
  EXPECT_FALSE(storage_->contains("a"));
  EXPECT_EQ(storage_->size(), 0u);
}

TEST_P(NameStorageTest, RemoveAllRemovesTheListedNamesAndSkipsUnknownOnes) {
  for (const char* name : {"a", "b", "c", "d"})
    storage_->put(name, reg("PYRO:x@h:1", {"t"}));
  storage_->remove_all({"b", "nope", "d", "b"});
  EXPECT_EQ(names_of(storage_->everything()), (std::vector<std::string>{"a", "c"}));
  storage_->remove_all({});
  EXPECT_EQ(storage_->size(), 2u);
}

TEST_P(NameStorageTest, SizeCountsNames) {
  EXPECT_EQ(storage_->size(), 0u);
  storage_->put("a", reg("PYRO:a@h:1"));
  storage_->put("b", reg("PYRO:b@h:1"));
  storage_->put("a", reg("PYRO:a@h:2"));
  EXPECT_EQ(storage_->size(), 2u);
}

TEST_P(NameStorageTest, EverythingIsInInsertionOrder) {
  for (const char* name : {"zeta", "alpha", "mu", "beta"})
    storage_->put(name, reg("PYRO:x@h:1"));
  EXPECT_EQ(names_of(storage_->everything()),
            (std::vector<std::string>{"zeta", "alpha", "mu", "beta"}));
}

TEST_P(NameStorageTest, RemovedAndAddedAgainComesLast) {
  for (const char* name : {"a", "b", "c"})
    storage_->put(name, reg("PYRO:x@h:1"));
  storage_->remove("a");
  storage_->put("a", reg("PYRO:x@h:1"));
  EXPECT_EQ(names_of(storage_->everything()), (std::vector<std::string>{"b", "c", "a"}));
}

TEST_P(NameStorageTest, EverythingCarriesUrisAndTags) {
  storage_->put("a", reg("PYRO:a@h:1", {"t1", "t2", "t3"}));
  storage_->put("b", reg("PYRO:b@h:1"));
  storage_->put("c", reg("PYRO:c@./u:/tmp/sock", {"t1"}));
  const auto all = storage_->everything();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].second.uri, "PYRO:a@h:1");
  EXPECT_EQ(sorted(all[0].second.metadata), (std::vector<std::string>{"t1", "t2", "t3"}));
  EXPECT_EQ(all[1].second.uri, "PYRO:b@h:1");
  EXPECT_TRUE(all[1].second.metadata.empty());
  EXPECT_EQ(all[2].second.uri, "PYRO:c@./u:/tmp/sock");
  EXPECT_EQ(all[2].second.metadata, (std::vector<std::string>{"t1"}));
}

TEST_P(NameStorageTest, KeepsNonAsciiAndAwkwardTextIntact) {
  const std::string name = "n\xc3\xa4me.\xe5\x90\x8d\xe5\x89\x8d 'quoted' \"x\"; DROP TABLE";
  const std::string tag = "t\xc3\xa4g%_\\";
  storage_->put(name, reg("PYRO:obj@h\xc3\xb6st:1", {tag, ""}));
  const auto found = storage_->get(name);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->uri, "PYRO:obj@h\xc3\xb6st:1");
  EXPECT_EQ(sorted(found->metadata), (std::vector<std::string>{"", tag}));
}

TEST_P(NameStorageTest, MetadataSearchAllFindsNamesHavingEveryTag) {
  storage_->put("ab", reg("PYRO:1@h:1", {"a", "b"}));
  storage_->put("abc", reg("PYRO:2@h:1", {"a", "b", "c"}));
  storage_->put("a", reg("PYRO:3@h:1", {"a"}));
  storage_->put("none", reg("PYRO:4@h:1"));
  const auto found = storage_->metadata_search({"b", "a"}, {});
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(names_of(*found), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(sorted(found->at(1).second.metadata), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(storage_->metadata_search({"a", "zz"}, {})->empty());
}

TEST_P(NameStorageTest, MetadataSearchAnyFindsNamesHavingSomeTag) {
  storage_->put("ab", reg("PYRO:1@h:1", {"a", "b"}));
  storage_->put("c", reg("PYRO:2@h:1", {"c"}));
  storage_->put("a", reg("PYRO:3@h:1", {"a"}));
  storage_->put("none", reg("PYRO:4@h:1"));
  const auto found = storage_->metadata_search({}, {"c", "b", "zz"});
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(names_of(*found), (std::vector<std::string>{"ab", "c"}));
  EXPECT_EQ(sorted(found->at(0).second.metadata), (std::vector<std::string>{"a", "b"}));
}

TEST_P(NameStorageTest, MetadataSearchTreatsTheTagsAskedForAsASet) {
  storage_->put("ab", reg("PYRO:1@h:1", {"a", "b"}));
  EXPECT_EQ(names_of(*storage_->metadata_search({"a", "a", "b"}, {})),
            (std::vector<std::string>{"ab"}));
  EXPECT_EQ(names_of(*storage_->metadata_search({}, {"a", "a"})), (std::vector<std::string>{"ab"}));
}

TEST_P(NameStorageTest, MetadataSearchWithoutTagsFindsNothing) {
  storage_->put("a", reg("PYRO:1@h:1", {"a"}));
  const auto found = storage_->metadata_search({}, {});
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->empty());
}

TEST_P(NameStorageTest, PrefixListFindsNamesStartingWithThePrefixInOrder) {
  for (const char* name : {"app.b", "other", "app.a", "ap", "app."}) {
    storage_->put(name, reg(std::string("PYRO:") + name + "@h:1", {"t"}));
  }
  const auto found = storage_->prefix_list("app.");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(names_of(*found), (std::vector<std::string>{"app.b", "app.a", "app."}));
  EXPECT_EQ(found->at(0).second.uri, "PYRO:app.b@h:1");
  EXPECT_EQ(found->at(0).second.metadata, (std::vector<std::string>{"t"}));
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

TEST(MemoryStorage, ReplacingANameKeepsItsPlace) {
  auto storage = pyro::make_memory_storage();
  for (const char* name : {"a", "b", "c"})
    storage->put(name, reg("PYRO:x@h:1"));
  storage->put("a", reg("PYRO:x@h:2"));
  EXPECT_EQ(names_of(storage->everything()), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(MemoryStorage, KeepsFrozenAsGiven) {
  auto storage = pyro::make_memory_storage();
  storage->put("f", reg("PYRO:x@h:1", {}, true));
  storage->put("g", reg("PYRO:x@h:1", {"t"}, false));
  EXPECT_TRUE(storage->get("f")->frozen);
  EXPECT_FALSE(storage->get("g")->frozen);
  EXPECT_TRUE(storage->everything().at(0).second.frozen);
}

TEST(MemoryStorage, PrefixListIsACaseSensitiveStartsWith) {
  auto storage = pyro::make_memory_storage();
  for (const char* name : {"App.x", "app.y", "apXp.z", "app_q"}) {
    storage->put(name, reg("PYRO:x@h:1"));
  }
  EXPECT_EQ(names_of(*storage->prefix_list("app.")), (std::vector<std::string>{"app.y"}));
  EXPECT_EQ(names_of(*storage->prefix_list("ap_")), (std::vector<std::string>{}));
}

TEST(MemoryStorage, HandlesHundredsOfThousandsOfNames) {
  auto storage = pyro::make_memory_storage();
  constexpr int count = 200000;
  for (int i = 0; i < count; ++i)
    storage->put("n" + std::to_string(i), reg("PYRO:x@h:1"));
  for (int i = 0; i < count; i += 2)
    ASSERT_TRUE(storage->remove("n" + std::to_string(i)));
  for (int i = 0; i < 10; i += 2)
    storage->put("n" + std::to_string(i), reg("PYRO:y@h:1"));
  EXPECT_EQ(storage->size(), static_cast<std::size_t>(count / 2 + 5));
  const auto all = storage->everything();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(count / 2 + 5));
  EXPECT_EQ(all.front().first, "n1");
  EXPECT_EQ(all[count / 2 - 1].first, "n" + std::to_string(count - 1));
  EXPECT_EQ(all.back().first, "n8");
  EXPECT_EQ(storage->get("n8")->uri, "PYRO:y@h:1");
  EXPECT_FALSE(storage->contains("n10"));
}

// ---------------------------------------------------------------------------------------------
// SQLite: Pyro's schema and quirks
// ---------------------------------------------------------------------------------------------

class SqlStorage : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string file_ = dir_.file("names.sqlite");
};

TEST_F(SqlStorage, CreatesPyrosTables) {
  pyro::make_sql_storage(file_);
  Database db(file_);
  // SQLite may spell a declared type in capitals when reporting it.
  const std::string columns =
      "SELECT cid, name, lower(type), \"notnull\", pk FROM pragma_table_info";
  EXPECT_EQ(
      db.rows(columns + "('pyro_names')"),
      (std::vector<std::string>{"0|id|integer|0|1", "1|name|nvarchar|1|0", "2|uri|nvarchar|1|0"}));
  EXPECT_EQ(db.rows(columns + "('pyro_metadata')"),
            (std::vector<std::string>{"0|object|integer|1|0", "1|metadata|nvarchar|1|0"}));
  EXPECT_EQ(
      db.rows("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list('pyro_metadata')"),
      (std::vector<std::string>{"pyro_names|object|id"}));
  EXPECT_EQ(db.rows("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%UNIQUE%' AND "
                    "name='pyro_names'"),
            (std::vector<std::string>{"1"}));
}

TEST_F(SqlStorage, UsesWalJournalAndForeignKeys) {
  auto storage = pyro::make_sql_storage(file_);
  Database db(file_);
  EXPECT_EQ(db.rows("PRAGMA journal_mode"), (std::vector<std::string>{"wal"}));
  // The foreign key holds: a tag row needs its name row.
  storage->put("a", reg("PYRO:a@h:1", {"t"}));
  EXPECT_EQ(db.rows("SELECT n.name, m.metadata FROM pyro_metadata m JOIN pyro_names n ON "
                    "n.id = m.object"),
            (std::vector<std::string>{"a|t"}));
}

TEST_F(SqlStorage, StoresOneTagRowPerTag) {
  auto storage = pyro::make_sql_storage(file_);
  storage->put("a", reg("PYRO:a@h:1", {"x", "y", "x"}));
  storage->put("b", reg("PYRO:b@h:1"));
  Database db(file_);
  EXPECT_EQ(db.rows("SELECT metadata FROM pyro_metadata ORDER BY metadata"),
            (std::vector<std::string>{"x", "y"}));
}

TEST_F(SqlStorage, ReplacingANameGivesItANewIdAtTheEnd) {
  auto storage = pyro::make_sql_storage(file_);
  for (const char* name : {"a", "b", "c"})
    storage->put(name, reg("PYRO:x@h:1", {"t"}));
  storage->put("a", reg("PYRO:x@h:2", {"u"}));
  EXPECT_EQ(names_of(storage->everything()), (std::vector<std::string>{"b", "c", "a"}));
  Database db(file_);
  EXPECT_EQ(db.rows("SELECT id, name FROM pyro_names ORDER BY id"),
            (std::vector<std::string>{"2|b", "3|c", "4|a"}));
  EXPECT_EQ(db.rows("SELECT object, metadata FROM pyro_metadata ORDER BY object"),
            (std::vector<std::string>{"2|t", "3|t", "4|u"}));
}

TEST_F(SqlStorage, NeverStoresFrozen) {
  auto storage = pyro::make_sql_storage(file_);
  storage->put("f", reg("PYRO:x@h:1", {}, true));
  EXPECT_FALSE(storage->get("f")->frozen);
  EXPECT_FALSE(storage->everything().at(0).second.frozen);
}

// Pyro's optimized_prefix_list uses `name LIKE prefix || '%'`: ASCII case folds, and '_' and
// '%' in the prefix are wildcards. The name server spec keeps the quirk.
TEST_F(SqlStorage, PrefixListMatchesLikeSqlDoes) {
  auto storage = pyro::make_sql_storage(file_);
  for (const char* name : {"App.x", "app.y", "apXp.z", "app_q", "b", "\xc3\x84pp.u"}) {
    storage->put(name, reg("PYRO:x@h:1"));
  }
  EXPECT_EQ(names_of(*storage->prefix_list("app.")), (std::vector<std::string>{"App.x", "app.y"}));
  EXPECT_EQ(names_of(*storage->prefix_list("ap_")),
            (std::vector<std::string>{"App.x", "app.y", "apXp.z", "app_q"}));
  EXPECT_EQ(names_of(*storage->prefix_list("a%.")),
            (std::vector<std::string>{"App.x", "app.y", "apXp.z"}));
  // Only ASCII folds.
  EXPECT_EQ(names_of(*storage->prefix_list("\xc3\xa4pp")), (std::vector<std::string>{}));
}

TEST_F(SqlStorage, RegistrationsSurviveReopening) {
  {
    auto storage = pyro::make_sql_storage(file_);
    storage->put("a", reg("PYRO:a@h:1", {"t1", "t2"}));
    storage->put("b", reg("PYRO:b@h:1"));
    storage->remove("b");
    storage->put("c", reg("PYRO:c@h:1"));
  }
  auto storage = pyro::make_sql_storage(file_);
  const auto all = storage->everything();
  EXPECT_EQ(names_of(all), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(sorted(all[0].second.metadata), (std::vector<std::string>{"t1", "t2"}));
}

TEST_F(SqlStorage, SeesWhatOtherConnectionsWrite) {
  auto storage = pyro::make_sql_storage(file_);
  storage->put("a", reg("PYRO:a@h:1"));
  Database db(file_);
  db.exec("INSERT INTO pyro_names(name, uri) VALUES('other', 'PYRO:o@h:1')");
  db.exec(
      "INSERT INTO pyro_metadata(object, metadata) SELECT id, 'ot' FROM pyro_names "
      "WHERE name='other'");
  EXPECT_EQ(storage->size(), 2u);
  EXPECT_EQ(storage->get("other")->metadata, (std::vector<std::string>{"ot"}));
}

TEST_F(SqlStorage, MigratesAFileWithoutTheMetadataTable) {
  {
    Database db(file_);
    db.exec(
        "CREATE TABLE pyro_names (id integer PRIMARY KEY, name nvarchar NOT NULL UNIQUE, "
        "uri nvarchar NOT NULL)");
    db.exec(
        "INSERT INTO pyro_names(id, name, uri) VALUES (7, 'first', 'PYRO:1@h:1'), "
        "(9, 'second', 'PYRO:2@h:1'), (12, 'third', 'PYRO:3@h:1')");
  }
  auto storage = pyro::make_sql_storage(file_);
  const auto all = storage->everything();
  EXPECT_EQ(names_of(all), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(all[1].second.uri, "PYRO:2@h:1");
  EXPECT_TRUE(all[1].second.metadata.empty());
  storage->put("fourth", reg("PYRO:4@h:1", {"t"}));
  EXPECT_EQ(storage->get("fourth")->metadata, (std::vector<std::string>{"t"}));
  Database db(file_);
  EXPECT_EQ(db.rows("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"),
            (std::vector<std::string>{"pyro_metadata", "pyro_names"}));
}

TEST_F(SqlStorage, AFailedPutChangesNothing) {
  auto storage = pyro::make_sql_storage(file_);
  storage->put("a", reg("PYRO:a@h:1", {"old"}));
  Database db(file_);
  db.exec(
      "CREATE TRIGGER refuse BEFORE INSERT ON pyro_metadata WHEN NEW.metadata = 'bad' "
      "BEGIN SELECT RAISE(ABORT, 'bad tag'); END");
  try {
    storage->put("a", reg("PYRO:a@h:2", {"bad"}));
    FAIL() << "put succeeded";
  } catch (const pyro::NamingError& e) {
    EXPECT_STREQ(e.what(), "sqlite error in setitem: bad tag");
  }
  const auto found = storage->get("a");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->uri, "PYRO:a@h:1");
  EXPECT_EQ(found->metadata, (std::vector<std::string>{"old"}));
  storage->put("b", reg("PYRO:b@h:1", {"fine"}));  // the connection is usable again
  EXPECT_EQ(storage->size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// SQLite: errors
// ---------------------------------------------------------------------------------------------

TEST_F(SqlStorage, RefusesTheInMemoryDatabase) {
  try {
    pyro::make_sql_storage(":memory:");
    FAIL() << "no exception";
  } catch (const pyro::ValueError& e) {
    EXPECT_STREQ(e.what(),
                 "We don't support the sqlite :memory: database type. Just use the default "
                 "volatile in-memory store.");
  }
}

TEST_F(SqlStorage, AFileThatIsNotADatabaseIsANamingError) {
  std::ofstream(file_) << std::string(8192, 'x');
  try {
    pyro::make_sql_storage(file_);
    FAIL() << "no exception";
  } catch (const pyro::NamingError& e) {
    EXPECT_STREQ(e.what(), "sqlite error in open: file is not a database");
  }
}

TEST_F(SqlStorage, AnUnopenablePathIsANamingError) {
  try {
    pyro::make_sql_storage(dir_.file("missing/dir/names.sqlite"));
    FAIL() << "no exception";
  } catch (const pyro::NamingError& e) {
    EXPECT_STREQ(e.what(), "sqlite error in open: unable to open database file");
  }
}

TEST_F(SqlStorage, ACorruptedDatabaseIsANamingError) {
  {
    auto storage = pyro::make_sql_storage(file_);
    for (int i = 0; i < 500; ++i) {
      storage->put("name." + std::to_string(i), reg("PYRO:obj@host:9090", {"a", "b"}));
    }
  }
  const auto size = fs::file_size(file_);
  ASSERT_GT(size, 4u * 4096u);
  {
    // Keep page 1 (header and schema), scribble over the rest.
    std::fstream f(file_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string junk(size - 4096, '\xa5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  try {
    auto storage = pyro::make_sql_storage(file_);
    storage->everything();
    FAIL() << "no exception";
  } catch (const pyro::NamingError& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("sqlite error in ")) << e.what();
    EXPECT_NE(std::string(e.what()).find("malformed"), std::string::npos) << e.what();
  }
}

TEST_F(SqlStorage, ErrorsNameTheOperationAsPyroDoes) {
  auto storage = pyro::make_sql_storage(file_);
  storage->put("a", reg("PYRO:a@h:1"));
  {
    Database db(file_);
    db.exec("DROP TABLE pyro_metadata");
    db.exec("DROP TABLE pyro_names");
  }
  const auto message = [](auto&& operation) -> std::string {
    try {
      operation();
    } catch (const pyro::NamingError& e) {
      return e.what();
    }
    return "no exception";
  };
  const std::string no_names = ": no such table: pyro_names";
  const std::string no_tags = ": no such table: pyro_metadata";
  EXPECT_EQ(message([&] { storage->get("a"); }), "sqlite error in getitem" + no_names);
  EXPECT_EQ(message([&] { storage->contains("a"); }), "sqlite error in contains" + no_names);
  EXPECT_EQ(message([&] { storage->size(); }), "sqlite error in len" + no_names);
  EXPECT_EQ(message([&] { storage->put("a", reg("u")); }), "sqlite error in setitem" + no_tags);
  EXPECT_EQ(message([&] { storage->remove("a"); }), "sqlite error in delitem" + no_tags);
  EXPECT_EQ(message([&] { storage->remove_all({"a"}); }), "sqlite error in remove_items" + no_tags);
  EXPECT_EQ(message([&] { storage->everything(); }), "sqlite error in everything" + no_names);
  EXPECT_EQ(message([&] { storage->prefix_list("a"); }),
            "sqlite error in optimized_prefix_list" + no_names);
  EXPECT_EQ(message([&] { storage->metadata_search({"x"}, {}); }),
            "sqlite error in optimized_metadata_search" + no_names);
}

TEST_F(SqlStorage, CallsAfterCloseAreNamingErrors) {
  auto storage = pyro::make_sql_storage(file_);
  storage->close();
  storage->close();
  EXPECT_THROW(storage->get("a"), pyro::NamingError);
  EXPECT_THROW(storage->put("a", reg("u")), pyro::NamingError);
}

// ---------------------------------------------------------------------------------------------
// open_storage
// ---------------------------------------------------------------------------------------------

TEST(OpenStorage, MemoryAndEmptySpecGiveMemoryStorage) {
  for (const char* spec : {"memory", ""}) {
    auto storage = pyro::open_storage(spec);
    storage->put("f", reg("PYRO:x@h:1", {}, true));
    EXPECT_TRUE(storage->get("f")->frozen) << spec;  // only memory storage keeps it
  }
}

TEST(OpenStorage, SqlSpecOpensTheFile) {
  TempDir dir;
  const std::string file = dir.file("ns.db");
  pyro::open_storage("sql:" + file)->put("a", reg("PYRO:a@h:1"));
  EXPECT_TRUE(fs::exists(file));
  EXPECT_TRUE(pyro::make_sql_storage(file)->contains("a"));
}

TEST(OpenStorage, RefusesOtherSpecs) {
  for (const char* spec : {"sql:", "sql", "dbm:names", "Memory", "sqlite:x", " memory"}) {
    try {
      pyro::open_storage(spec);
      ADD_FAILURE() << "no exception for '" << spec << "'";
    } catch (const pyro::ValueError& e) {
      EXPECT_EQ(std::string(e.what()), "invalid storage type '" + std::string(spec) + "'");
    }
  }
}

TEST(OpenStorage, SqlMemorySpecIsRefused) {
  EXPECT_THROW(pyro::open_storage("sql::memory:"), pyro::ValueError);
}

// ---------------------------------------------------------------------------------------------
// Interop with Python Pyro4's SqlStorage
// ---------------------------------------------------------------------------------------------

// Prints a storage as Pyro sees it: one line per name in everything()'s order, tags sorted.
constexpr const char* python_dump = R"(
def dump(s, entries=None):
    entries = s.everything(return_metadata=True) if entries is None else entries
    out = ''
    for name, (uri, meta) in entries.items():
        out += name + '|' + uri + '|' + ','.join(sorted(meta)) + '\n'
    return out
)";

TEST(SqlStorageInterop, PythonReadsOurFile) {
  if (!pyro4_available()) GTEST_SKIP() << "Python Pyro4 is not importable";
  TempDir dir;
  const std::string file = dir.file("ns.sqlite");
  {
    auto storage = pyro::make_sql_storage(file);
    storage->put("Pyro.NameServer",
                 reg("PYRO:Pyro.NameServer@localhost:9090", {"class:Pyro5.nameserver.NameServer"}));
    storage->put("gone", reg("PYRO:gone@h:1", {"x"}));
    storage->put("example.\xc3\xa4", reg("PYRO:obj_2@./u:/tmp/s", {"t\xc3\xa4g", "b"}));
    storage->put("plain", reg("PYRO:obj_3@h:1"));
    storage->remove("gone");
  }
  const auto result = run_python(std::string(python_dump) + R"(
import sys
from Pyro4.naming_storage import SqlStorage
s = SqlStorage(sys.argv[1])
out = 'len=%d contains=%s\n' % (len(s), 'plain' in s)
out += dump(s)
out += 'prefix:\n' + dump(s, s.optimized_prefix_list('EXAMPLE', True))
out += 'all:\n' + dump(s, s.optimized_metadata_search(metadata_all={'b', 't\u00e4g'}, return_metadata=True))
uri, meta = s['plain']
out += 'get=' + uri + ' ' + repr(meta) + '\n'
sys.stdout.buffer.write(out.encode('utf-8'))
)",
                                 file);
  ASSERT_EQ(result.status, 0);
  EXPECT_EQ(result.output,
            "len=3 contains=True\n"
            "Pyro.NameServer|PYRO:Pyro.NameServer@localhost:9090|class:Pyro5.nameserver."
            "NameServer\n"
            "example.\xc3\xa4|PYRO:obj_2@./u:/tmp/s|b,t\xc3\xa4g\n"
            "plain|PYRO:obj_3@h:1|\n"
            "prefix:\n"
            "example.\xc3\xa4|PYRO:obj_2@./u:/tmp/s|b,t\xc3\xa4g\n"
            "all:\n"
            "example.\xc3\xa4|PYRO:obj_2@./u:/tmp/s|b,t\xc3\xa4g\n"
            "get=PYRO:obj_3@h:1 set()\n");
}

TEST(SqlStorageInterop, WeReadPythonsFile) {
  if (!pyro4_available()) GTEST_SKIP() << "Python Pyro4 is not importable";
  TempDir dir;
  const std::string file = dir.file("ns.sqlite");
  const auto result = run_python(R"(
import sys
from Pyro4.naming_storage import SqlStorage
s = SqlStorage(sys.argv[1])
s['first'] = ('PYRO:obj_1@localhost:9090', {'class:Greeter', 'x'})
s['second'] = ('PYRO:obj_2@localhost:9090', None)
s['first'] = ('PYRO:obj_1b@localhost:9090', {'x', 'y'})
s['\u540d\u524d'] = ('PYRO:obj_3@./u:/tmp/sock', {'\u00e4'})
s['third'] = ('PYRO:obj_4@h:1', set())
del s['third']
s.close()
)",
                                 file);
  ASSERT_EQ(result.status, 0);
  auto storage = pyro::make_sql_storage(file);
  const auto all = storage->everything();
  EXPECT_EQ(names_of(all),
            (std::vector<std::string>{"second", "first", "\xe5\x90\x8d\xe5\x89\x8d"}));
  EXPECT_EQ(storage->get("first")->uri, "PYRO:obj_1b@localhost:9090");
  EXPECT_EQ(sorted(storage->get("first")->metadata), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(storage->get("second")->metadata.empty());
  EXPECT_EQ(storage->get("\xe5\x90\x8d\xe5\x89\x8d")->metadata,
            (std::vector<std::string>{"\xc3\xa4"}));
  EXPECT_EQ(names_of(*storage->metadata_search({}, {"y", "\xc3\xa4"})),
            (std::vector<std::string>{"first", "\xe5\x90\x8d\xe5\x89\x8d"}));
}

TEST(SqlStorageInterop, PythonAndWeShareAnOpenFile) {
  if (!pyro4_available()) GTEST_SKIP() << "Python Pyro4 is not importable";
  TempDir dir;
  const std::string file = dir.file("ns.sqlite");
  auto storage = pyro::make_sql_storage(file);
  storage->put("ours", reg("PYRO:ours@h:1", {"c++"}));
  const auto result = run_python(std::string(python_dump) + R"(
import sys
from Pyro4.naming_storage import SqlStorage
s = SqlStorage(sys.argv[1])
s['theirs'] = ('PYRO:theirs@h:1', {'python'})
sys.stdout.write(dump(s))
)",
                                 file);
  ASSERT_EQ(result.status, 0);
  EXPECT_EQ(result.output, "ours|PYRO:ours@h:1|c++\ntheirs|PYRO:theirs@h:1|python\n");
  EXPECT_EQ(storage->get("theirs")->metadata, (std::vector<std::string>{"python"}));
  EXPECT_EQ(names_of(storage->everything()), (std::vector<std::string>{"ours", "theirs"}));
}

TEST(SqlStorageInterop, PythonMigratesAndWeReadTheResult) {
  if (!pyro4_available()) GTEST_SKIP() << "Python Pyro4 is not importable";
  TempDir dir;
  const std::string file = dir.file("old.sqlite");
  {
    Database db(file);
    db.exec(
        "CREATE TABLE pyro_names (id integer PRIMARY KEY, name nvarchar NOT NULL UNIQUE, "
        "uri nvarchar NOT NULL)");
    db.exec("INSERT INTO pyro_names(name, uri) VALUES ('a', 'PYRO:a@h:1'), ('b', 'PYRO:b@h:1')");
  }
  ASSERT_EQ(run_python("import sys\nfrom Pyro4.naming_storage import SqlStorage\n"
                       "SqlStorage(sys.argv[1])\n",
                       file)
                .status,
            0);
  // Python's migration and ours leave the same tables.
  const std::string ours = dir.file("ours.sqlite");
  {
    Database db(ours);
    db.exec(
        "CREATE TABLE pyro_names (id integer PRIMARY KEY, name nvarchar NOT NULL UNIQUE, "
        "uri nvarchar NOT NULL)");
    db.exec("INSERT INTO pyro_names(name, uri) VALUES ('a', 'PYRO:a@h:1'), ('b', 'PYRO:b@h:1')");
  }
  pyro::make_sql_storage(ours);
  // Table definitions equal but for white space.
  const std::string tables =
      "SELECT name, replace(replace(sql, ' ', ''), char(10), '') FROM sqlite_master "
      "WHERE type='table' ORDER BY name";
  const auto theirs = Database(file).rows(tables);
  EXPECT_EQ(theirs.size(), 2u);
  EXPECT_EQ(theirs, Database(ours).rows(tables));
  EXPECT_EQ(names_of(pyro::make_sql_storage(file)->everything()),
            (std::vector<std::string>{"a", "b"}));
}

// ---------------------------------------------------------------------------------------------
// Durability: an acknowledged registration survives kill -9 of its writer
// ---------------------------------------------------------------------------------------------

TEST(SqlStorageDurability, AcknowledgedPutsSurviveKill9) {
  TempDir dir;
  const std::string file = dir.file("durable.sqlite");
  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(acks[0]);
    try {
      auto storage = pyro::make_sql_storage(file);
      for (int i = 0; i < 1000000; ++i) {
        const std::string n = std::to_string(i);
        storage->put("durable." + n, reg("PYRO:obj_" + n + "@host:9090", {"tag" + n, "all"}));
        if (::write(acks[1], &i, sizeof i) != static_cast<ssize_t>(sizeof i)) ::_exit(2);
      }
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  ::close(acks[1]);

  constexpr int wanted = 200;
  int acknowledged = -1;
  bool ended = false;
  while (acknowledged + 1 < wanted) {
    pollfd p{acks[0], POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;  // no progress in 10 s: give up
    int i = 0;
    if (::read(acks[0], &i, sizeof i) != static_cast<ssize_t>(sizeof i)) {
      ended = true;
      break;
    }
    EXPECT_EQ(i, acknowledged + 1);
    acknowledged = i;
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(acks[0]);
  EXPECT_FALSE(ended) << "the writer ended before it was killed";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ(acknowledged + 1, wanted);

  EXPECT_EQ(Database(file).rows("PRAGMA integrity_check"), (std::vector<std::string>{"ok"}));
  auto storage = pyro::make_sql_storage(file);
  EXPECT_GE(storage->size(), static_cast<std::size_t>(wanted));
  for (int i = 0; i < wanted; ++i) {
    const std::string n = std::to_string(i);
    const auto found = storage->get("durable." + n);
    ASSERT_TRUE(found.has_value()) << "lost durable." << n;
    EXPECT_EQ(found->uri, "PYRO:obj_" + n + "@host:9090");
    EXPECT_EQ(sorted(found->metadata), (std::vector<std::string>{"all", "tag" + n}));
  }
}

}  // namespace
