using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EventFanOutQueue : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "events_to_fan_out",
                columns: table => new
                {
                    event_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    merchant_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_events_to_fan_out", x => x.event_id);
                });

            // The events not fanned out yet move to the queue; the rest were fanned out already.
            migrationBuilder.Sql("INSERT INTO events_to_fan_out (event_id, merchant_id, created_at) SELECT id, merchant_id, created_at FROM events WHERE fanned_out_at IS NULL");

            migrationBuilder.DropIndex(
                name: "ix_events_not_fanned_out",
                table: "events");

            // SQLite's own DROP COLUMN (3.35+) instead of EF's table rebuild, which has to switch foreign keys off outside the
            // migration's transaction (and warns about it on every fresh database).
            migrationBuilder.Sql("ALTER TABLE \"events\" DROP COLUMN \"fanned_out_at\";");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTime>(
                name: "fanned_out_at",
                table: "events",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_events_not_fanned_out",
                table: "events",
                column: "created_at",
                filter: "fanned_out_at IS NULL");

            migrationBuilder.Sql("UPDATE events SET fanned_out_at = created_at WHERE id NOT IN (SELECT event_id FROM events_to_fan_out)");

            migrationBuilder.DropTable(
                name: "events_to_fan_out");
        }
    }
}
