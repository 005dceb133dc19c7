using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AuditEvents : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "audit_events",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    merchant_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    actor_type = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    actor_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    operation = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    object_type = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    object_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    occurred_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    ip = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    user_agent = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    status = table.Column<int>(type: "INTEGER", nullable: true),
                    outcome = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    request_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_audit_events", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_audit_events_merchant_id_id",
                table: "audit_events",
                columns: new[] { "merchant_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_audit_events_merchant_id_object_id",
                table: "audit_events",
                columns: new[] { "merchant_id", "object_id" });

            // Append-only: the database itself refuses to change or remove an audit event, whoever connects.
            migrationBuilder.Sql("""
                CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
                BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
                BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "audit_events");
        }
    }
}
